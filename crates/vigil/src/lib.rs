//! The Vigil server: wires the REST core, the store and the resources into one node.

pub mod api;
pub mod auth;
pub mod config;
pub mod files;
pub mod lenient_http;
pub mod mav_service;
pub mod namespace;
pub mod ondemand;
pub mod quarantine;
pub mod scanners;
pub mod server;
pub mod state;
