//! What every `server-*` binary of io-models shares, so that each server crate contains only its
//! I/O model.
//!
//! | module | what it gives a server |
//! |---|---|
//! | [`cli`] | the command-line contract every server accepts (`--addr`, `--root`, `--timeout`, `--log`) |
//! | [`listener`] | binding the listening socket and printing the one announce line |
//! | [`shutdown`] | SIGINT/SIGTERM turned into a flag and a readable file descriptor; the grace period |
//! | [`pool`] | a fixed-size thread pool with a bounded queue (the course's 线程池) |
//! | [`timers`] | a deadline table, so an event loop can time out idle connections without a thread each |
//! | [`pump`] | moving bytes between a non-blocking socket and an [`http_core::Connection`] |
//! | [`accept`] | what to do with each error `accept(2)` can return |
//! | [`clients`] | a single-threaded loop's connections, indexed by fd, with their deadlines |
//! | [`slab`] | connections indexed by a token with a serial, so a late event finds nothing |
//! | [`signals`] | signal sets blocked and taken with `sigtimedwait` (SIGIO and AIO servers) |
//! | [`stats`] | counters printed once at exit (`served N requests on M connections`) |
//! | [`errors`] | what an I/O error means to a server (`is_disconnect`), and error messages with context |
//! | [`sys`] | the few raw syscalls the helpers need, each behind a small safe function |
//! | [`work`] | running the logic of the work routes (`/cpu/US`, `/block/MS`) where the server runs logic |
#![warn(missing_docs)]

pub mod accept;
pub mod cli;
pub mod clients;
pub mod errors;
pub mod listener;
pub mod pool;
pub mod pump;
pub mod shutdown;
pub mod signals;
pub mod slab;
pub mod stats;
pub mod sys;
pub mod timers;
pub mod work;
