//! peerwire: a peer-to-peer TCP transport.
//!
//! The core (this crate's Rust API) is usable on its own: [`Transport`] made from
//! [`Options`], listening, dialling, a handshake per connection, framed messages through a
//! [`codec`], events to callbacks or a bounded pull queue, and a clean close. The C ABI in
//! [`ffi`] is a thin layer over it.

pub mod codec;
pub mod error;
pub mod events;
pub mod ffi;
pub mod handshake;
mod idmap;
pub mod limits;
pub mod log;
pub mod options;
pub mod peer;
pub mod runtime;
pub mod transport;

pub use error::{Error, Result, Status};
pub use events::{Event, EventKind, Pull, Reason};
pub use handshake::{Handshake, HandshakeIo};
pub use options::{Options, Settings};
pub use peer::{PeerId, PeerInfo};
pub use transport::{CloseReport, Stats, Transport};

/// The library version, "major.minor.patch".
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
