//! Responses: the `<result>` envelope, `list_mav_scans`, the discovery services and
//! the error form.

use std::io;

use chrono::{DateTime, FixedOffset, Months, Utc};

use crate::describe;
use crate::error::MavError;
use crate::model::{Device, DeviceType, Scan, Source, Threat};
use crate::request::{
    Authorized, Call, Details, KeyCheck, KeyScope, Version, apikey_of, check_key, grant,
    no_such_device, parse_request,
};
use crate::xml::Xml;

/// The `Content-Type` to send with every response, errors included (always with
/// HTTP 200, as the RMM does).
pub const CONTENT_TYPE: &str = "text/xml; charset=utf-8";

/// Per-response facts that do not come from the data source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Context {
    /// The `host` attribute of `<result>`: the name the server is reached by.
    pub host: String,
    /// The `created` attribute (shown with this offset, as the RMM shows its
    /// server's local time) and the reference point of the one-year window.
    pub now: DateTime<FixedOffset>,
}

impl Context {
    /// `now` may be a `DateTime<Utc>` (`created` then ends in `+00:00`) or carry
    /// the server's local offset.
    pub fn new(host: impl Into<String>, now: impl Into<DateTime<FixedOffset>>) -> Self {
        Context {
            host: host.into(),
            now: now.into(),
        }
    }

    fn now_utc(&self) -> DateTime<Utc> {
        self.now.with_timezone(&Utc)
    }
}

/// `start`/`end`: `YYYY-MM-DD HH:MM:SS`, UTC (the VIPRE rule; Vigil records are
/// VIPRE-shaped, see `docs/mav.md`).
fn scan_time(t: &DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S").to_string()
}

/// `created`: ISO 8601 with an explicit offset, as in the seed
/// (`2012-04-05T10:48:40+01:00`).
fn created(t: &DateTime<FixedOffset>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%:z").to_string()
}

/// The oldest start time still shown: one calendar year before `now`.
pub fn history_cutoff(now: DateTime<Utc>) -> DateTime<Utc> {
    now.checked_sub_months(Months::new(12))
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

fn open_result(x: &mut Xml, ctx: &Context, status: &str) -> io::Result<()> {
    let created = created(&ctx.now);
    x.start(
        "result",
        &[
            ("created", created.as_str()),
            ("host", ctx.host.as_str()),
            ("status", status),
        ],
    )
}

/// Renders the response to an authorised request.
pub fn render(auth: &Authorized, source: &dyn Source, ctx: &Context) -> Result<String, MavError> {
    // Read everything first, so that a source failure yields an error response
    // rather than half a document.
    let body = Body::load(auth, source, ctx)?;
    write(|x| {
        open_result(x, ctx, "OK")?;
        body.write(x, ctx)?;
        x.end("result")
    })
}

/// The RMM error form: `<result created host status="FAIL"><error><errorcode/>
/// <message/></error></result>`.
pub fn render_error(error: &MavError, ctx: &Context) -> String {
    let written = write(|x| {
        open_result(x, ctx, "FAIL")?;
        x.start("error", &[])?;
        x.num("errorcode", error.errorcode())?;
        x.leaf("message", &error.public_message())?;
        x.end("error")?;
        x.end("result")
    });
    // Writing into a Vec<u8> has no failure mode; an empty body is the least bad
    // answer should quick-xml ever report one.
    written.unwrap_or_default()
}

/// Key check, parse and render, stopping at the first error. The key is judged
/// before the other parameters, so a caller with a bad key learns only that
/// (errorcode 3), whatever else is wrong with the query.
pub fn handle(
    query: &[(String, String)],
    keys: &dyn KeyCheck,
    source: &dyn Source,
    ctx: &Context,
) -> Result<String, MavError> {
    let key = apikey_of(query).ok_or(MavError::BadKey)?;
    let scope = check_key(keys, key)?;
    let auth = grant(parse_request(query)?, scope)?;
    render(&auth, source, ctx)
}

/// [`handle`] with the error rendered: the body for an HTTP 200. A caller that
/// wants to log internal errors uses [`handle`] and [`render_error`] itself.
pub fn respond(
    query: &[(String, String)],
    keys: &dyn KeyCheck,
    source: &dyn Source,
    ctx: &Context,
) -> String {
    handle(query, keys, source, ctx).unwrap_or_else(|e| render_error(&e, ctx))
}

fn write(f: impl FnOnce(&mut Xml) -> io::Result<()>) -> Result<String, MavError> {
    let mut x = Xml::new().map_err(io_error)?;
    f(&mut x).map_err(io_error)?;
    Ok(x.finish())
}

fn io_error(e: io::Error) -> MavError {
    MavError::Internal(format!("writing XML: {e}"))
}

/// The data of one response, loaded and checked before writing starts.
enum Body {
    Describe(crate::request::Service),
    Scans {
        scans: Vec<Scan>,
        details: Details,
        version: Version,
    },
    Clients(Option<ClientRow>),
    Sites(crate::model::Site),
    Servers(Vec<Device>),
    DevicesAtClient {
        client: crate::model::Client,
        site: crate::model::Site,
        devices: Vec<Device>,
        devicetype: DeviceType,
    },
}

struct ClientRow {
    client: crate::model::Client,
    servers: usize,
}

fn visible_devices(source: &dyn Source, scope: &KeyScope) -> Result<Vec<Device>, MavError> {
    let mut devices: Vec<Device> = source
        .devices()?
        .into_iter()
        .filter(|d| scope.contains(d.id))
        .collect();
    // The RMM orders devices by name; the id breaks ties so the order is stable.
    devices.sort_by(|a, b| a.name.cmp(&b.name).then(a.id.cmp(&b.id)));
    Ok(devices)
}

fn no_such(name: &'static str, id: u64) -> MavError {
    let what = if name == "clientid" { "client" } else { "site" };
    MavError::bad_parameter(name, format!("no {what} with id {id}"))
}

impl Body {
    fn load(auth: &Authorized, source: &dyn Source, ctx: &Context) -> Result<Body, MavError> {
        let scope = auth.scope();
        Ok(match *auth.call() {
            Call::Describe(service) => Body::Describe(service),
            Call::ListMavScans {
                device,
                details,
                version,
            } => {
                if !scope.contains(device) || source.device(device)?.is_none() {
                    return Err(no_such_device(device));
                }
                let since = history_cutoff(ctx.now_utc());
                let mut scans: Vec<Scan> = source
                    .scans(device, since)?
                    .into_iter()
                    .filter(|s| s.start >= since)
                    .collect();
                // Newest first, so a caller that reads only the first records sees
                // the latest scans.
                scans.sort_by(|a, b| b.start.cmp(&a.start).then(b.id.cmp(&a.id)));
                Body::Scans {
                    scans,
                    details,
                    version,
                }
            }
            Call::ListClients { devicetype } => {
                let client = source.client()?;
                let servers = visible_devices(source, scope)?.len();
                let shown = match devicetype {
                    None => true,
                    Some(DeviceType::Server) => servers > 0,
                    Some(_) => false,
                };
                Body::Clients(shown.then_some(ClientRow { client, servers }))
            }
            Call::ListSites { client } => {
                if source.client()?.id != client {
                    return Err(no_such("clientid", client));
                }
                Body::Sites(source.site()?)
            }
            Call::ListServers { site } => {
                if source.site()?.id != site {
                    return Err(no_such("siteid", site));
                }
                Body::Servers(visible_devices(source, scope)?)
            }
            Call::ListDevicesAtClient { client, devicetype } => {
                let c = source.client()?;
                if c.id != client {
                    return Err(no_such("clientid", client));
                }
                let devices = if devicetype == DeviceType::Server {
                    visible_devices(source, scope)?
                } else {
                    Vec::new()
                };
                Body::DevicesAtClient {
                    client: c,
                    site: source.site()?,
                    devices,
                    devicetype,
                }
            }
        })
    }

    fn write(&self, x: &mut Xml, ctx: &Context) -> io::Result<()> {
        match self {
            Body::Describe(service) => describe::write(x, *service, &ctx.host),
            Body::Scans {
                scans,
                details,
                version,
            } => {
                for s in scans {
                    write_scan(x, s, *details, *version)?;
                }
                Ok(())
            }
            Body::Clients(row) => {
                x.start("items", &[])?;
                if let Some(ClientRow { client, servers }) = row {
                    let servers = *servers as u64;
                    x.start("client", &[])?;
                    x.leaf("name", &client.name)?;
                    x.num("clientid", client.id)?;
                    x.num("view_dashboard", 0u64)?;
                    x.num("view_wkstsn_assets", 0u64)?;
                    x.leaf("timezone", &client.timezone)?;
                    x.leaf("creation_date", &date(client.created))?;
                    x.num("server_count", servers)?;
                    x.num("workstation_count", 0u64)?;
                    x.num("mobile_device_count", 0u64)?;
                    x.num("device_count", servers)?;
                    x.end("client")?;
                }
                x.end("items")
            }
            Body::Sites(site) => {
                x.start("items", &[])?;
                x.start("site", &[])?;
                x.num("siteid", site.id)?;
                x.leaf("name", &site.name)?;
                x.num("connection_ok", 1u64)?;
                x.leaf("creation_date", &date(site.created))?;
                x.leaf("primary_router", "")?;
                x.leaf("secondary_router", "")?;
                x.end("site")?;
                x.end("items")
            }
            Body::Servers(devices) => {
                x.start("items", &[])?;
                for d in devices {
                    x.start("server", &[])?;
                    x.leaf("guid", &d.uuid)?;
                    x.leaf("name", &d.name)?;
                    x.leaf("description", d.description.as_deref().unwrap_or(""))?;
                    x.num("serverid", d.id)?;
                    x.num("online", u64::from(d.online))?;
                    x.end("server")?;
                }
                x.end("items")
            }
            Body::DevicesAtClient {
                client,
                site,
                devices,
                devicetype,
            } => {
                x.start("items", &[])?;
                x.start("client", &[])?;
                x.num("id", client.id)?;
                x.leaf("name", &client.name)?;
                if !devices.is_empty() {
                    x.start("site", &[])?;
                    x.num("id", site.id)?;
                    x.leaf("name", &site.name)?;
                    for d in devices {
                        x.start(devicetype.as_str(), &[])?;
                        x.num("id", d.id)?;
                        x.leaf("name", &d.name)?;
                        x.leaf("username", "")?;
                        x.leaf("description", d.description.as_deref().unwrap_or(""))?;
                        x.end(devicetype.as_str())?;
                    }
                    x.end("site")?;
                }
                x.end("client")?;
                x.end("items")
            }
        }
    }
}

fn date(d: Option<chrono::NaiveDate>) -> String {
    d.map(|d| d.format("%Y-%m-%d").to_string())
        .unwrap_or_default()
}

fn write_scan(x: &mut Xml, s: &Scan, details: Details, version: Version) -> io::Result<()> {
    x.start("scan", &[])?;
    x.leaf("type", s.scan_type.as_str())?;
    x.leaf("status", s.status.as_str())?;
    x.leaf("start", &scan_time(&s.start))?;
    if let (true, Some(end)) = (s.status.is_complete(), &s.end) {
        x.leaf("end", &scan_time(end))?;
    }
    x.num("cookies_scanned", s.cookies_scanned)?;
    x.num("registry_scanned", s.registry_scanned)?;
    x.num("files_scanned", s.files_scanned)?;
    x.num("folders_scanned", s.folders_scanned)?;
    x.num("processes_scanned", s.processes_scanned)?;
    match details {
        Details::Summary => {
            x.num("threat_count", s.threats.len() as u64)?;
            x.num("quarantine_count", s.quarantine_count() as u64)?;
            x.num("error_count", s.errors.len() as u64)?;
        }
        Details::Full => {
            if !s.threats.is_empty() {
                x.start("threats", &[])?;
                for t in &s.threats {
                    write_threat(x, t)?;
                }
                x.end("threats")?;
            }
            if !s.errors.is_empty() {
                x.start("errors", &[])?;
                for e in &s.errors {
                    x.start("error", &[])?;
                    x.leaf("item", &e.item)?;
                    x.leaf("reason", e.reason.as_str())?;
                    x.end("error")?;
                }
                x.end("errors")?;
            }
        }
    }
    if version == Version::V2 {
        let mut attrs = Vec::new();
        if !s.engine.name.is_empty() {
            attrs.push(("name", s.engine.name.as_str()));
        }
        if !s.engine.version.is_empty() {
            attrs.push(("version", s.engine.version.as_str()));
        }
        // Vigil records follow the VIPRE vocabulary, which is what the RMM's
        // `engine` value tells a client; the real engine is in the attributes.
        x.leaf_with("engine", &attrs, "VIPRE")?;
    }
    x.end("scan")
}

fn write_threat(x: &mut Xml, t: &Threat) -> io::Result<()> {
    x.start("threat", &[])?;
    x.leaf("name", &t.name)?;
    x.leaf("category", &t.category)?;
    x.leaf("status", t.status.as_str())?;
    if !t.quarantine.is_empty() {
        x.start("quarantine", &[])?;
        for q in &t.quarantine {
            x.start("item", &[])?;
            x.leaf("guid", &q.guid.to_string())?;
            x.num("count", q.count)?;
            x.leaf("deleted", if q.deleted { "YES" } else { "NO" })?;
            x.end("item")?;
        }
        x.end("quarantine")?;
    }
    x.start("traces", &[])?;
    for tr in &t.traces {
        x.start("trace", &[])?;
        x.leaf("type", tr.trace_type.as_str())?;
        x.leaf("description", &tr.description)?;
        x.end("trace")?;
    }
    x.end("traces")?;
    x.end("threat")
}
