//! Fuzzes `vscan::address::ServerAddress::from_str` (scanner pool `servers` entries).
//!
//! Input: any bytes, as UTF-8 (lossy). Nothing may panic, and every accepted address
//! must print (`Display`) in a canonical form that parses back to an equal value and
//! prints the same again.

#![no_main]

use libfuzzer_sys::fuzz_target;
use vscan::address::ServerAddress;

fuzz_target!(|data: &[u8]| {
    let input = String::from_utf8_lossy(data);
    match input.parse::<ServerAddress>() {
        Ok(addr) => {
            let shown = addr.to_string();
            let again = match shown.parse::<ServerAddress>() {
                Ok(a) => a,
                Err(e) => {
                    panic!("{input:?} parsed as {addr:?}, whose form {shown:?} does not parse: {e}")
                }
            };
            assert_eq!(again, addr, "{input:?} -> {shown:?}");
            assert_eq!(again.to_string(), shown, "{input:?}");
        }
        Err(e) => {
            assert_eq!(e.input(), input);
            let _ = e.to_string();
        }
    }
});
