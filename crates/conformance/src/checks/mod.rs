//! One function per behaviour. Each starts its own server from the [`Target`](crate::Target),
//! talks raw TCP to it, and panics with what was sent and received when the server misbehaves.
//!
//! Every check is bounded: socket operations time out after
//! [`TIMEOUT`](crate::client::TIMEOUT), and the slow ones (slow reader, slowloris, timeouts,
//! SIGTERM) take a second or two by design.
//!
//! | file | checks |
//! |---|---|
//! | `routes.rs` | static files, types, `HEAD`, directories, decoding, escapes, symlinks, `/bytes/N` |
//! | `caching.rs` | validators and `304`, ranges (`206`, `416`), `If-Range`, the directory redirect, `--max-body` |
//! | `bodies.rs` | `/echo` with `Content-Length` and chunked bodies, `100-continue`, `413` |
//! | `bad_input.rs` | 400, 405, 414, 431, 501, 505 |
//! | `connections.rs` | keep-alive, HTTP/1.0, pipelining, slow/many/vanishing/idle clients |
//! | `process.rs` | `--help`, start-up errors, `--log`, SIGTERM/SIGINT |

mod bad_input;
mod bodies;
mod caching;
mod connections;
mod process;
mod routes;
mod support;

pub use bad_input::*;
pub use bodies::*;
pub use caching::*;
pub use connections::*;
pub use process::*;
pub use routes::*;
pub use support::parse_imf_fixdate;
