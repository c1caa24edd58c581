//! Auto traits, checked at compile time: handles cross threads wherever the values they carry
//! may.

use concurra::{AsCompleted, Error, Future, Promise, Thread, ThreadPoolExecutor};

fn send<T: Send>() {}
fn sync<T: Sync>() {}
fn clone<T: Clone>() {}

#[test]
fn handles_are_send_and_sync() {
    send::<Future<String>>();
    sync::<Future<String>>();
    clone::<Future<String>>();
    send::<Promise<String>>();
    sync::<Promise<String>>();
    send::<ThreadPoolExecutor>();
    sync::<ThreadPoolExecutor>();
    send::<Thread<String>>();
    sync::<Thread<String>>();
    send::<AsCompleted<String>>();
    send::<Error>();
    sync::<Error>();
    clone::<Error>();
}
