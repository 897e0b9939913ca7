//! proto <-> domain, both ways: the server decodes requests and encodes
//! events; the typed client ([`crate::client`]) does the reverse with the
//! same functions' twins, so the two sides cannot drift apart.

pub mod event;
pub mod facts;
pub mod output;
pub mod work;
