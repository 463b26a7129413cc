//! Query parsing and the API-key gate.

use std::collections::BTreeSet;

use crate::error::MavError;
use crate::model::DeviceType;

/// The services this server answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Service {
    ListMavScans,
    ListClients,
    ListSites,
    ListServers,
    ListDevicesAtClient,
}

impl Service {
    pub const ALL: &'static [Service] = &[
        Service::ListMavScans,
        Service::ListClients,
        Service::ListSites,
        Service::ListServers,
        Service::ListDevicesAtClient,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Service::ListMavScans => "list_mav_scans",
            Service::ListClients => "list_clients",
            Service::ListSites => "list_sites",
            Service::ListServers => "list_servers",
            Service::ListDevicesAtClient => "list_devices_at_client",
        }
    }

    fn from_name(name: &str) -> Option<Service> {
        Service::ALL.iter().copied().find(|s| s.as_str() == name)
    }
}

/// `details=YES|NO`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Details {
    /// `NO`: per-scan counts.
    Summary,
    /// `YES`: threats, quarantine, traces, errors.
    Full,
}

/// `v=1|2` (default 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    V1,
    V2,
}

/// A parsed, well-formed call (not yet authorised).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    /// `describe=true` on any service: its self-description instead of data.
    Describe(Service),
    ListMavScans {
        device: u64,
        details: Details,
        version: Version,
    },
    ListClients {
        devicetype: Option<DeviceType>,
    },
    ListSites {
        client: u64,
    },
    ListServers {
        site: u64,
    },
    ListDevicesAtClient {
        client: u64,
        devicetype: DeviceType,
    },
}

/// A parsed request. The key is kept out of `Debug` so that logging a request
/// cannot leak it.
#[derive(Clone, PartialEq, Eq)]
pub struct Request {
    apikey: String,
    pub call: Call,
}

impl Request {
    pub fn apikey(&self) -> &str {
        &self.apikey
    }
}

impl std::fmt::Debug for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Request")
            .field("apikey", &"<redacted>")
            .field("call", &self.call)
            .finish()
    }
}

/// Longest parameter value echoed back in an error message; a caller's garbage is
/// quoted, not mirrored whole.
const ECHO_MAX: usize = 64;

fn echo(value: &str) -> String {
    let mut out: String = value.chars().take(ECHO_MAX).collect();
    if out.len() < value.len() {
        out.push('…');
    }
    out
}

/// Parameters other than the ones a service reads are ignored, as RMM clients send
/// extra ones (e.g. `devicetype` with every call).
struct Params<'a> {
    pairs: &'a [(String, String)],
}

impl<'a> Params<'a> {
    /// The one value of `name`. A repeated parameter is an error rather than
    /// first-wins or last-wins, because a proxy in front may pick the other one.
    fn single(&self, name: &'static str) -> Result<Option<&'a str>, Repeated> {
        let mut found = None;
        for (k, v) in self.pairs {
            if k == name {
                if found.is_some() {
                    return Err(Repeated);
                }
                found = Some(v.as_str());
            }
        }
        Ok(found)
    }

    fn param(&self, name: &'static str) -> Result<Option<&'a str>, MavError> {
        self.single(name)
            .map_err(|Repeated| MavError::bad_parameter(name, "given more than once"))
    }

    fn required(&self, name: &'static str) -> Result<&'a str, MavError> {
        match self.param(name)? {
            Some(v) if !v.is_empty() => Ok(v),
            _ => Err(MavError::bad_parameter(name, "required")),
        }
    }

    fn id(&self, name: &'static str) -> Result<u64, MavError> {
        parse_id(name, self.required(name)?)
    }
}

struct Repeated;

/// Plain decimal digits only: no sign, no spaces, no `0x`, so that one id has one
/// spelling (leading zeros are allowed, they do not change the value).
fn parse_id(name: &'static str, value: &str) -> Result<u64, MavError> {
    if !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(MavError::bad_parameter(
            name,
            format!("'{}' is not a non-negative integer", echo(value)),
        ));
    }
    value
        .parse::<u64>()
        .map_err(|_| MavError::bad_parameter(name, format!("'{}' is out of range", echo(value))))
}

fn parse_describe(value: &str) -> Result<bool, MavError> {
    if value.eq_ignore_ascii_case("true") || value == "1" {
        Ok(true)
    } else if value.eq_ignore_ascii_case("false") || value == "0" || value.is_empty() {
        Ok(false)
    } else {
        Err(MavError::bad_parameter(
            "describe",
            format!("'{}' is not true or false", echo(value)),
        ))
    }
}

fn parse_devicetype(value: &str) -> Result<DeviceType, MavError> {
    DeviceType::ALL
        .iter()
        .copied()
        .find(|t| t.as_str().eq_ignore_ascii_case(value))
        .ok_or_else(|| {
            MavError::bad_parameter(
                "devicetype",
                format!(
                    "'{}' is not one of server, workstation, mobile_device",
                    echo(value)
                ),
            )
        })
}

/// Parses a request's parameters (query string or form body, already
/// percent-decoded, in order). Checks, in this order: `apikey` present (else
/// errorcode 3), `service` known (else 2), `describe`, then the service's own
/// parameters (else 4). Whether the key is valid is [`authorize`]'s business.
pub fn parse_request(query: &[(String, String)]) -> Result<Request, MavError> {
    let p = Params { pairs: query };
    let apikey = apikey_of(query).ok_or(MavError::BadKey)?.to_string();
    let service = match p.single("service") {
        Ok(Some(s)) => Service::from_name(s).ok_or_else(|| {
            MavError::UnknownService(if s.is_empty() {
                "no service given".to_string()
            } else {
                format!("'{}'", echo(s))
            })
        })?,
        Ok(None) => return Err(MavError::UnknownService("no service given".to_string())),
        Err(Repeated) => {
            return Err(MavError::UnknownService(
                "service given more than once".to_string(),
            ));
        }
    };
    if parse_describe(p.param("describe")?.unwrap_or(""))? {
        // The description needs none of the service's parameters, so a caller
        // can ask for it with a template URL (`deviceid=DEVICEID`) unchanged.
        return Ok(Request {
            apikey,
            call: Call::Describe(service),
        });
    }
    let call = match service {
        Service::ListMavScans => {
            let device = p.id("deviceid")?;
            let details = match p.required("details")? {
                d if d.eq_ignore_ascii_case("YES") => Details::Full,
                d if d.eq_ignore_ascii_case("NO") => Details::Summary,
                d => {
                    return Err(MavError::bad_parameter(
                        "details",
                        format!("'{}' is not YES or NO", echo(d)),
                    ));
                }
            };
            let version = match p.param("v")? {
                None => Version::V2,
                Some("1") => Version::V1,
                Some("2") => Version::V2,
                Some(v) => {
                    return Err(MavError::bad_parameter(
                        "v",
                        format!("'{}' is not 1 or 2", echo(v)),
                    ));
                }
            };
            Call::ListMavScans {
                device,
                details,
                version,
            }
        }
        Service::ListClients => Call::ListClients {
            devicetype: match p.param("devicetype")? {
                None | Some("") => None,
                Some(t) => Some(parse_devicetype(t)?),
            },
        },
        Service::ListSites => Call::ListSites {
            client: p.id("clientid")?,
        },
        Service::ListServers => Call::ListServers {
            site: p.id("siteid")?,
        },
        Service::ListDevicesAtClient => Call::ListDevicesAtClient {
            client: p.id("clientid")?,
            // Listed as required but documented with default `server`.
            devicetype: match p.param("devicetype")? {
                None | Some("") => DeviceType::Server,
                Some(t) => parse_devicetype(t)?,
            },
        },
    };
    Ok(Request { apikey, call })
}

/// Which devices a key may see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyScope {
    All,
    Devices(BTreeSet<u64>),
}

impl KeyScope {
    pub fn contains(&self, device: u64) -> bool {
        match self {
            KeyScope::All => true,
            KeyScope::Devices(d) => d.contains(&device),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyDecision {
    /// Unknown, revoked or otherwise unusable key: errorcode 3.
    Denied,
    Allowed(KeyScope),
}

/// The server's key store. Implementations should compare hashes in constant time;
/// this crate only passes the key through.
pub trait KeyCheck {
    fn check(&self, key: &str) -> KeyDecision;
}

impl<F: Fn(&str) -> KeyDecision> KeyCheck for F {
    fn check(&self, key: &str) -> KeyDecision {
        self(key)
    }
}

/// A request whose key was accepted, with the key's scope. Only [`authorize`]
/// makes one, so nothing can be rendered without a key check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorized {
    request: Request,
    scope: KeyScope,
}

impl Authorized {
    pub fn request(&self) -> &Request {
        &self.request
    }
    pub fn call(&self) -> &Call {
        &self.request.call
    }
    pub fn scope(&self) -> &KeyScope {
        &self.scope
    }
}

/// Checks the key. A `deviceid` outside the key's scope is reported exactly like a
/// device that does not exist (errorcode 4), so that a scoped key cannot discover
/// other tenants' device ids.
pub fn authorize(request: Request, keys: &dyn KeyCheck) -> Result<Authorized, MavError> {
    let scope = check_key(keys, &request.apikey)?;
    grant(request, scope)
}

pub(crate) fn check_key(keys: &dyn KeyCheck, key: &str) -> Result<KeyScope, MavError> {
    match keys.check(key) {
        KeyDecision::Denied => Err(MavError::BadKey),
        KeyDecision::Allowed(scope) => Ok(scope),
    }
}

/// The one `apikey` of a query, if there is exactly one and it is not empty.
pub(crate) fn apikey_of(query: &[(String, String)]) -> Option<&str> {
    match (Params { pairs: query }).single("apikey") {
        Ok(Some(k)) if !k.is_empty() => Some(k),
        _ => None,
    }
}

pub(crate) fn grant(request: Request, scope: KeyScope) -> Result<Authorized, MavError> {
    if let Call::ListMavScans { device, .. } = request.call
        && !scope.contains(device)
    {
        return Err(no_such_device(device));
    }
    Ok(Authorized { request, scope })
}

pub(crate) fn no_such_device(device: u64) -> MavError {
    MavError::bad_parameter("deviceid", format!("no device with id {device}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn scans(extra: &[(&str, &str)]) -> Result<Call, MavError> {
        let mut p = vec![("apikey", "k"), ("service", "list_mav_scans")];
        p.extend_from_slice(extra);
        parse_request(&q(&p)).map(|r| r.call)
    }

    fn code(r: Result<Call, MavError>) -> u32 {
        match r {
            Ok(c) => panic!("accepted: {c:?}"),
            Err(e) => e.errorcode(),
        }
    }

    #[test]
    fn list_mav_scans_forms() {
        let call = |device, details, version| Call::ListMavScans {
            device,
            details,
            version,
        };
        assert_eq!(
            scans(&[("deviceid", "7"), ("details", "YES")]),
            Ok(call(7, Details::Full, Version::V2))
        );
        assert_eq!(
            scans(&[("details", "no"), ("v", "1"), ("deviceid", "007")]),
            Ok(call(7, Details::Summary, Version::V1))
        );
        assert_eq!(
            scans(&[
                ("deviceid", "18446744073709551615"),
                ("details", "Yes"),
                ("v", "2")
            ]),
            Ok(call(u64::MAX, Details::Full, Version::V2))
        );
    }

    #[test]
    fn list_mav_scans_refusals() {
        for bad in [
            vec![("details", "YES")],
            vec![("deviceid", ""), ("details", "YES")],
            vec![("deviceid", "+7"), ("details", "YES")],
            vec![("deviceid", " 7"), ("details", "YES")],
            vec![("deviceid", "0x7"), ("details", "YES")],
            vec![("deviceid", "18446744073709551616"), ("details", "YES")],
            vec![("deviceid", "7")],
            vec![("deviceid", "7"), ("details", "")],
            vec![("deviceid", "7"), ("details", "YESS")],
            vec![("deviceid", "7"), ("details", "true")],
            vec![("deviceid", "7"), ("details", "YES"), ("v", "0")],
            vec![("deviceid", "7"), ("details", "YES"), ("v", " 2")],
            vec![
                ("deviceid", "7"),
                ("details", "YES"),
                ("v", "1"),
                ("v", "1"),
            ],
            vec![("deviceid", "7"), ("details", "YES"), ("details", "YES")],
            vec![("deviceid", "7"), ("details", "YES"), ("describe", "yes")],
        ] {
            assert_eq!(code(scans(&bad)), 4, "{bad:?}");
        }
    }

    #[test]
    fn key_then_service_then_parameters() {
        assert_eq!(
            parse_request(&q(&[("service", "nope")])),
            Err(MavError::BadKey)
        );
        assert_eq!(
            parse_request(&q(&[("apikey", "k"), ("apikey", "k"), ("service", "nope")])),
            Err(MavError::BadKey)
        );
        assert_eq!(
            parse_request(&q(&[("APIKEY", "k"), ("service", "list_clients")])),
            Err(MavError::BadKey)
        );
        for service in [
            vec![],
            vec![("service", "")],
            vec![("service", "list_workstations")],
            vec![("service", "list_clients"), ("service", "list_clients")],
        ] {
            let mut p = vec![("apikey", "k"), ("deviceid", "x")];
            p.extend(service.clone());
            assert_eq!(
                parse_request(&q(&p)).map_err(|e| e.errorcode()),
                Err(2),
                "{service:?}"
            );
        }
    }

    #[test]
    fn discovery_calls() {
        let call = |p: &[(&str, &str)]| {
            let mut all = vec![("apikey", "k")];
            all.extend_from_slice(p);
            parse_request(&q(&all)).map(|r| r.call)
        };
        assert_eq!(
            call(&[("service", "list_clients")]),
            Ok(Call::ListClients { devicetype: None })
        );
        assert_eq!(
            call(&[("service", "list_clients"), ("devicetype", "Server")]),
            Ok(Call::ListClients {
                devicetype: Some(DeviceType::Server)
            })
        );
        assert_eq!(
            call(&[("service", "list_sites"), ("clientid", "3")]),
            Ok(Call::ListSites { client: 3 })
        );
        assert_eq!(
            call(&[("service", "list_servers"), ("siteid", "4")]),
            Ok(Call::ListServers { site: 4 })
        );
        assert_eq!(
            call(&[("service", "list_devices_at_client"), ("clientid", "3")]),
            Ok(Call::ListDevicesAtClient {
                client: 3,
                devicetype: DeviceType::Server
            })
        );
        assert_eq!(
            call(&[
                ("service", "list_devices_at_client"),
                ("clientid", "3"),
                ("devicetype", "mobile_device")
            ]),
            Ok(Call::ListDevicesAtClient {
                client: 3,
                devicetype: DeviceType::MobileDevice
            })
        );
        assert_eq!(
            call(&[("service", "list_servers"), ("describe", "true")]),
            Ok(Call::Describe(Service::ListServers))
        );
        assert_eq!(
            call(&[("service", "list_servers"), ("siteid", "-1")]).map_err(|e| e.errorcode()),
            Err(4)
        );
    }

    #[test]
    fn echoed_values_are_bounded() {
        let long = "é".repeat(10_000);
        let err = code_err(scans(&[("deviceid", &long), ("details", "YES")]));
        assert!(err.to_string().chars().count() < 200, "{err}");
    }

    fn code_err(r: Result<Call, MavError>) -> MavError {
        match r {
            Ok(c) => panic!("accepted: {c:?}"),
            Err(e) => e,
        }
    }
}
