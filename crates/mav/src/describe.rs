//! `describe=true`: each service's self-description, in the RMM's `<service>` shape.
//! The RMM embeds raw example XML and an HTML field table in `<example>` and
//! `<fielddescriptions>`; here both are text, escaped like every other value, so
//! the response stays well-formed (see `docs/mav.md`).

use std::io;

use crate::request::Service;
use crate::xml::Xml;

struct Param {
    name: &'static str,
    kind: &'static str,
    default: &'static str,
    values: &'static str,
    description: &'static str,
    required: bool,
}

/// `clientid`, taken by `list_sites` and `list_devices_at_client`.
const CLIENT_ID: Param = Param {
    name: "clientid",
    kind: "integer",
    default: "",
    values: "",
    description: "The clientid must be a valid client id.",
    required: true,
};

const DESCRIBE: Param = Param {
    name: "describe",
    kind: "boolean",
    default: "0",
    values: "true",
    description: "Optional. Returns a description of the service.",
    required: false,
};

struct Description {
    description: &'static str,
    /// What follows `service=NAME` in the URL template.
    url_tail: &'static str,
    params: &'static [Param],
    example: &'static str,
    /// (field, type, can be empty, description)
    fields: &'static [(&'static str, &'static str, &'static str, &'static str)],
}

fn description(service: Service) -> Description {
    match service {
        Service::ListMavScans => Description {
            description: "Returns list of Managed Antivirus scans for a device; these could be in-progress or complete. The information is available as summaries (details=NO) or with threats, quarantine and errors included (details=YES).",
            url_tail: "&deviceid=DEVICEID&details=DETAIL&v=VERSION",
            params: &[
                DESCRIBE,
                Param {
                    name: "deviceid",
                    kind: "integer",
                    default: "0",
                    values: "",
                    description: "The deviceid must be a valid device id.",
                    required: true,
                },
                Param {
                    name: "details",
                    kind: "string",
                    default: "0",
                    values: "NO YES",
                    description: "Level of information displayed YES for details; NO for summary",
                    required: true,
                },
                Param {
                    name: "v",
                    kind: "integer",
                    default: "2",
                    values: "1 2",
                    description: "Managed Antivirus engine version 1 VIPRE engine 2 Bitdefender engine",
                    required: false,
                },
            ],
            example: "<result created=\"2013-01-15T09:10:00+00:00\" host=\"SERVER\" status=\"OK\"><scan><type>QUICK</type><status>FINISHED</status><start>2013-01-15 08:59:50</start><end>2013-01-15 09:03:57</end><cookies_scanned>0</cookies_scanned><registry_scanned>0</registry_scanned><files_scanned>3297</files_scanned><folders_scanned>818</folders_scanned><processes_scanned>0</processes_scanned><threat_count>2</threat_count><quarantine_count>1</quarantine_count><error_count>0</error_count><engine>VIPRE</engine></scan></result>",
            fields: &[
                (
                    "type",
                    "string",
                    "no",
                    "Scan type: QUICK, DEEP, ACTIVE or CUSTOM",
                ),
                (
                    "status",
                    "string",
                    "no",
                    "NONE, PENDING, PENDING_AGENT, FINISHED, CANCELED, ERROR, PAUSED or RUNNING",
                ),
                (
                    "start",
                    "datetime",
                    "no",
                    "Scan start time (UTC), e.g. 2013-06-21 19:18:17",
                ),
                (
                    "end",
                    "datetime",
                    "yes",
                    "Scan end time (UTC); only included if scanning complete",
                ),
                (
                    "cookies_scanned",
                    "integer",
                    "no",
                    "Number of cookies scanned",
                ),
                (
                    "registry_scanned",
                    "integer",
                    "no",
                    "Number of registry entries scanned",
                ),
                ("files_scanned", "integer", "no", "Number of files scanned"),
                (
                    "folders_scanned",
                    "integer",
                    "no",
                    "Number of folders scanned",
                ),
                (
                    "processes_scanned",
                    "integer",
                    "no",
                    "Number of processes scanned",
                ),
                (
                    "threat_count",
                    "integer",
                    "yes",
                    "Count of threats found (details=NO)",
                ),
                (
                    "quarantine_count",
                    "integer",
                    "yes",
                    "Count of items quarantined (details=NO)",
                ),
                (
                    "error_count",
                    "integer",
                    "yes",
                    "Count of errors encountered (details=NO)",
                ),
                (
                    "threats",
                    "list",
                    "yes",
                    "Threats with quarantine items and traces (details=YES, at least one threat)",
                ),
                (
                    "errors",
                    "list",
                    "yes",
                    "Scan errors with item and reason (details=YES, at least one error)",
                ),
                (
                    "engine",
                    "string",
                    "yes",
                    "Engine the data originates from (v>1)",
                ),
            ],
        },
        Service::ListClients => Description {
            description: "Lists all clients.",
            url_tail: "",
            params: &[
                DESCRIBE,
                Param {
                    name: "devicetype",
                    kind: "string",
                    default: "",
                    values: "server workstation mobile_device",
                    description: "Only clients with active devices of this type",
                    required: false,
                },
            ],
            example: "<result created=\"2013-01-15T09:10:00+00:00\" host=\"SERVER\" status=\"OK\"><items><client><name>cluster1</name><clientid>1</clientid><view_dashboard>0</view_dashboard><view_wkstsn_assets>0</view_wkstsn_assets><timezone>Europe/London</timezone><creation_date>2013-01-01</creation_date><server_count>2</server_count><workstation_count>0</workstation_count><mobile_device_count>0</mobile_device_count><device_count>2</device_count></client></items></result>",
            fields: &[
                ("name", "string", "no", "Client name"),
                ("clientid", "integer", "no", "Client id"),
                ("timezone", "string", "yes", "Client timezone"),
                ("creation_date", "date", "yes", "Creation date"),
                ("server_count", "integer", "no", "Number of servers"),
                (
                    "workstation_count",
                    "integer",
                    "no",
                    "Number of workstations",
                ),
                (
                    "mobile_device_count",
                    "integer",
                    "no",
                    "Number of mobile devices",
                ),
                ("device_count", "integer", "no", "Number of devices"),
            ],
        },
        Service::ListSites => Description {
            description: "Lists all sites for a client.",
            url_tail: "&clientid=CLIENTID",
            params: &[DESCRIBE, CLIENT_ID],
            example: "<result created=\"2013-01-15T09:10:00+00:00\" host=\"SERVER\" status=\"OK\"><items><site><siteid>1</siteid><name>cluster1</name><connection_ok>1</connection_ok><creation_date>2013-01-01</creation_date><primary_router></primary_router><secondary_router></secondary_router></site></items></result>",
            fields: &[
                ("siteid", "integer", "no", "Site id"),
                ("name", "string", "no", "Site name"),
                (
                    "connection_ok",
                    "integer",
                    "no",
                    "1 if the site is reachable",
                ),
                ("creation_date", "date", "yes", "Creation date"),
                ("primary_router", "string", "yes", "Primary router"),
                ("secondary_router", "string", "yes", "Secondary router"),
            ],
        },
        Service::ListServers => Description {
            description: "Lists all servers for a site.",
            url_tail: "&siteid=SITEID",
            params: &[
                DESCRIBE,
                Param {
                    name: "siteid",
                    kind: "integer",
                    default: "",
                    values: "",
                    description: "The siteid must be a valid site id.",
                    required: true,
                },
            ],
            example: "<result created=\"2013-01-15T09:10:00+00:00\" host=\"SERVER\" status=\"OK\"><items><server><guid>6f1c2b9e-0000-4000-8000-000000000001</guid><name>vs1</name><description></description><serverid>1001</serverid><online>1</online></server></items></result>",
            fields: &[
                ("guid", "string", "no", "Server GUID"),
                ("name", "string", "no", "Server name"),
                ("description", "string", "yes", "Server description"),
                (
                    "serverid",
                    "integer",
                    "no",
                    "Server id, the deviceid of other calls",
                ),
                ("online", "integer", "no", "1 if the server is online"),
            ],
        },
        Service::ListDevicesAtClient => Description {
            description: "Lists all devices of a type at a client, by site.",
            url_tail: "&clientid=CLIENTID&devicetype=server",
            params: &[
                DESCRIBE,
                CLIENT_ID,
                Param {
                    name: "devicetype",
                    kind: "string",
                    default: "server",
                    values: "server workstation mobile_device",
                    description: "Type of device to list",
                    required: true,
                },
            ],
            example: "<result created=\"2013-01-15T09:10:00+00:00\" host=\"SERVER\" status=\"OK\"><items><client><id>1</id><name>cluster1</name><site><id>1</id><name>cluster1</name><server><id>1001</id><name>vs1</name><username></username><description></description></server></site></client></items></result>",
            fields: &[
                ("id", "integer", "no", "Client, site or device id"),
                ("name", "string", "no", "Client, site or device name"),
                ("username", "string", "yes", "Logged-in user"),
                ("description", "string", "yes", "Device description"),
            ],
        },
    }
}

pub(crate) fn write(x: &mut Xml, service: Service, host: &str) -> io::Result<()> {
    let d = description(service);
    let url = format!(
        "https://{host}/api/?apikey=yourAPItoken&service={}{}",
        service.as_str(),
        d.url_tail
    );
    // The field table is HTML in the RMM's output; it is built here as text and
    // escaped on write like everything else.
    let mut table = String::from(
        "<table><tr><th>Field</th><th>Type</th><th>Can Be Empty</th><th>Description</th></tr>",
    );
    for (field, kind, empty, text) in d.fields {
        table.push_str(&format!(
            "<tr><td>{field}</td><td>{kind}</td><td>{empty}</td><td>{text}</td></tr>"
        ));
    }
    table.push_str("</table>");

    x.start("service", &[])?;
    x.leaf("name", service.as_str())?;
    x.leaf("url", &url)?;
    x.leaf("description", d.description)?;
    x.start("parameters", &[])?;
    for p in d.params {
        x.start("parameter", &[])?;
        x.leaf("name", p.name)?;
        x.leaf("type", p.kind)?;
        x.leaf("default", p.default)?;
        x.leaf("values", p.values)?;
        x.leaf("description", p.description)?;
        x.leaf("required", if p.required { "yes" } else { "no" })?;
        x.end("parameter")?;
    }
    x.end("parameters")?;
    x.leaf("example", d.example)?;
    x.leaf("fielddescriptions", &table)?;
    x.end("service")
}
