//! Integration tests of the Rust core (no C involved).

use peerwire::{Event, EventKind, Options, Pull, Reason, Transport};
use std::io::{Read, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn transport(f: impl FnOnce(&mut Options)) -> Transport {
    let mut o = Options::default();
    f(&mut o);
    Transport::new(o).unwrap()
}

/// Pulls until `pred` matches an event or `secs` pass; returns the events seen.
fn pull_until(t: &Transport, secs: u64, mut pred: impl FnMut(&Event) -> bool) -> Vec<Event> {
    let end = Instant::now() + Duration::from_secs(secs);
    let mut all = Vec::new();
    while Instant::now() < end {
        let mut out = Vec::new();
        match t.pull(&mut out, 256, Some(Duration::from_millis(50))).unwrap() {
            Pull::Got(_) => {
                let done = out.iter().any(&mut pred);
                all.extend(out);
                if done {
                    return all;
                }
            }
            Pull::Closed => break,
            _ => {}
        }
    }
    panic!("condition not met in {secs}s; saw {} events", all.len());
}

#[test]
fn messages_flow_both_ways_and_in_order() {
    let a = transport(|_| {});
    let addr = a.listen().unwrap();
    let b = transport(|_| {});
    let pa = b.dial(&addr.to_string(), None).unwrap();
    for i in 0..1000u32 {
        b.send(pa, &i.to_be_bytes()).unwrap();
    }
    b.send(pa, b"").unwrap();
    let mut got = Vec::new();
    let mut from = 0;
    pull_until(&a, 10, |e| {
        if e.kind == EventKind::PEERWIRE_EVENT_MESSAGE {
            from = e.peer_id();
            got.push(e.payload.clone());
        }
        got.len() == 1001
    });
    for (i, p) in got[..1000].iter().enumerate() {
        assert_eq!(&p[..], &(i as u32).to_be_bytes());
    }
    assert!(got[1000].is_empty(), "empty message arrives empty");
    a.send(from, b"pong").unwrap();
    let ev = pull_until(&b, 5, |e| e.kind == EventKind::PEERWIRE_EVENT_MESSAGE);
    assert_eq!(&ev.last().unwrap().payload[..], b"pong");
    let s = a.stats();
    assert_eq!(s.msgs_in, 1001);
    assert_eq!(s.peers, 1);
}

#[test]
fn oversize_frames_refused_on_send_and_close_only_that_connection() {
    let a = transport(|o| o.settings.max_frame = 1024);
    let addr = a.listen().unwrap();
    let b = transport(|o| o.settings.max_frame = 1024);
    let pa = b.dial(&addr.to_string(), None).unwrap();
    assert!(matches!(b.send(pa, &[0u8; 1025]), Err(peerwire::Error::TooLarge { .. })));
    b.send(pa, &[1u8; 1024]).unwrap();
    // A raw socket claiming a huge frame is dropped with FRAME_TOO_LARGE.
    let mut raw = std::net::TcpStream::connect(addr).unwrap();
    raw.write_all(&[0x7f, 0xff, 0xff, 0xff, 1, 2, 3]).unwrap();
    let evs = pull_until(&a, 5, |e| e.kind == EventKind::PEERWIRE_EVENT_PEER_DISCONNECTED);
    let d = evs.iter().find(|e| e.kind == EventKind::PEERWIRE_EVENT_PEER_DISCONNECTED).unwrap();
    assert_eq!(d.reason, Reason::PEERWIRE_REASON_FRAME_TOO_LARGE);
    let mut sink = [0u8; 8];
    raw.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    assert_eq!(raw.read(&mut sink).unwrap_or(0), 0, "the offending connection is closed");
    b.send(pa, b"still here").unwrap();
    pull_until(&a, 5, |e| e.kind == EventKind::PEERWIRE_EVENT_MESSAGE && &e.payload[..] == b"still here");
    assert!(a.stats().frames_refused >= 1);
}

#[test]
fn handshake_exchanges_bytes_rejects_and_times_out() {
    let hs = |o: &mut Options| {
        o.settings.handshake_timeout = Duration::from_millis(300);
        o.handshake = Some(Arc::new(|io: &peerwire::HandshakeIo| {
            io.send(b"HELO").map_err(|e| e.to_string())?;
            let mut b = [0u8; 4];
            io.recv_exact(&mut b, None).map_err(|e| e.to_string())?;
            if &b == b"HELO" {
                Ok(())
            } else {
                Err(format!("bad greeting {b:?}"))
            }
        }));
    };
    let a = transport(hs);
    let addr = a.listen().unwrap();
    let b = transport(hs);
    b.dial(&addr.to_string(), None).unwrap();
    // Wrong greeting: rejected.
    let mut raw = std::net::TcpStream::connect(addr).unwrap();
    raw.write_all(b"NOPE").unwrap();
    let evs = pull_until(&a, 5, |e| e.kind == EventKind::PEERWIRE_EVENT_HANDSHAKE_FAILED);
    assert_eq!(evs.last().unwrap().reason, Reason::PEERWIRE_REASON_HANDSHAKE_REJECTED);
    // Silent: times out at the deadline.
    let t0 = Instant::now();
    let _silent = std::net::TcpStream::connect(addr).unwrap();
    let evs = pull_until(&a, 5, |e| e.kind == EventKind::PEERWIRE_EVENT_HANDSHAKE_FAILED);
    assert_eq!(evs.last().unwrap().reason, Reason::PEERWIRE_REASON_HANDSHAKE_TIMEOUT);
    assert!(t0.elapsed() < Duration::from_secs(2));
    assert_eq!(a.stats().handshake_failures, 2);
}

#[test]
fn callbacks_stop_at_close_and_finalizers_run_once() {
    let seen = Arc::new(AtomicUsize::new(0));
    let fin = Arc::new(AtomicUsize::new(0));
    let closed_seen = Arc::new(Mutex::new(Vec::new()));
    let (s2, f2, c2) = (seen.clone(), fin.clone(), closed_seen.clone());
    let a = transport(move |o| {
        o.on_message = Some(Arc::new(move |_e: &Event| {
            s2.fetch_add(1, Ordering::SeqCst);
        }));
        o.on_peer = Some(Arc::new(move |e: &Event| c2.lock().unwrap().push(e.kind)));
        o.finalizers.push(Box::new(move || {
            f2.fetch_add(1, Ordering::SeqCst);
        }));
    });
    let addr = a.listen().unwrap();
    let b = transport(|_| {});
    let p = b.dial(&addr.to_string(), None).unwrap();
    for _ in 0..100 {
        b.send(p, b"x").unwrap();
    }
    let end = Instant::now() + Duration::from_secs(5);
    while seen.load(Ordering::SeqCst) < 100 && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(seen.load(Ordering::SeqCst), 100);
    let r = a.close(None).unwrap();
    assert_eq!(r.peers_closed, 1);
    assert_eq!(fin.load(Ordering::SeqCst), 1, "finalizer ran by the time close returned");
    let kinds = closed_seen.lock().unwrap().clone();
    assert_eq!(kinds.first(), Some(&EventKind::PEERWIRE_EVENT_PEER_CONNECTED));
    assert_eq!(kinds.last(), Some(&EventKind::PEERWIRE_EVENT_TRANSPORT_CLOSED));
    let _ = b.send(p, b"after");
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(seen.load(Ordering::SeqCst), 100, "no callback after close");
    assert_eq!(a.close(None).unwrap(), r, "close is idempotent");
    assert!(matches!(a.send(1, b"x"), Err(peerwire::Error::Closed)));
    drop(a);
    assert_eq!(fin.load(Ordering::SeqCst), 1);
}

#[test]
fn close_flushes_queued_sends_within_linger() {
    let a = transport(|_| {});
    let addr = a.listen().unwrap();
    let b = transport(|_| {});
    let p = b.dial(&addr.to_string(), None).unwrap();
    let msg = vec![7u8; 64 * 1024];
    for _ in 0..200 {
        b.send(p, &msg).unwrap();
    }
    let r = b.close(Some(Duration::from_secs(5))).unwrap();
    assert_eq!(r.msgs_dropped, 0);
    let mut n = 0;
    pull_until(&a, 10, |e| {
        if e.kind == EventKind::PEERWIRE_EVENT_MESSAGE {
            assert_eq!(e.payload.len(), msg.len());
            n += 1;
        }
        n == 200
    });
}

#[test]
fn full_send_queue_fails_fast_or_waits_then_fails() {
    // A raw listener that accepts but never reads: our queue fills up.
    let raw = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = raw.local_addr().unwrap();
    let b = transport(|o| {
        o.settings.send_queue_bytes = 64 * 1024;
        o.settings.send_timeout = Some(Duration::ZERO);
    });
    let p = b.dial(&addr.to_string(), None).unwrap();
    let _conn = raw.accept().unwrap();
    let chunk = vec![0u8; 16 * 1024];
    // Fill the kernel buffers and our queue: sends that may wait briefly until one can't.
    let mut refused = None;
    let end = Instant::now() + Duration::from_secs(30);
    for i in 0..100_000 {
        if Instant::now() > end {
            break;
        }
        if let Err(e) = b.send_timeout(p, &chunk, Some(Duration::from_millis(50))) {
            refused = Some((i, e));
            break;
        }
    }
    let (i, e) = refused.expect("the queue must fill up");
    assert!(matches!(e, peerwire::Error::WouldBlock { .. }), "{e}");
    assert!(i > 4, "socket buffers and the queue take some first");
    assert!(matches!(b.send(p, &chunk), Err(peerwire::Error::WouldBlock { .. })), "send_timeout 0 fails at once");
    let t0 = Instant::now();
    let e = b.send_timeout(p, &chunk, Some(Duration::from_millis(200))).unwrap_err();
    assert!(matches!(e, peerwire::Error::WouldBlock { .. }));
    assert!(t0.elapsed() >= Duration::from_millis(190));
    assert!(b.stats().sends_would_block >= 2);
    let info = b.peer_info(p).unwrap();
    assert!(info.send_queue_bytes > 0 && info.send_queue_bytes <= 64 * 1024 + 16 * 1024);
    let r = b.close(Some(Duration::from_millis(100))).unwrap();
    assert!(r.msgs_dropped > 0 && r.bytes_dropped > 0, "unflushed sends are reported: {r:?}");
}

#[test]
fn blocking_calls_are_refused_inside_callbacks_and_send_works() {
    let results = Arc::new(Mutex::new(Vec::new()));
    let a_slot: Arc<Mutex<Option<Arc<Transport>>>> = Arc::new(Mutex::new(None));
    let (r2, slot2) = (results.clone(), a_slot.clone());
    let a = Arc::new(transport(move |o| {
        o.on_peer = Some(Arc::new(|_: &Event| {})); // keeps the pull queue empty
        o.on_message = Some(Arc::new(move |e: &Event| {
            let t = slot2.lock().unwrap().clone().unwrap();
            let dial = t.dial("127.0.0.1:1", None).map(|_| ());
            let mut out = Vec::new();
            let pull = t.pull(&mut out, 1, None).map(|_| ());
            let echo = t.send(e.peer_id(), &e.payload);
            r2.lock().unwrap().push((dial, pull, echo));
        }));
    }));
    *a_slot.lock().unwrap() = Some(a.clone());
    let addr = a.listen().unwrap();
    let b = transport(|_| {});
    let p = b.dial(&addr.to_string(), None).unwrap();
    b.send(p, b"ping").unwrap();
    let evs = pull_until(&b, 5, |e| e.kind == EventKind::PEERWIRE_EVENT_MESSAGE);
    assert_eq!(&evs.last().unwrap().payload[..], b"ping", "echoed from inside the callback");
    let (dial, pull, echo) = results.lock().unwrap().pop().unwrap();
    assert!(matches!(dial, Err(peerwire::Error::InCallback(_))));
    assert!(matches!(pull, Err(peerwire::Error::InCallback(_))));
    assert!(echo.is_ok());
    a.close(None).unwrap();
    a_slot.lock().unwrap().take();
}

#[test]
fn max_connections_refuses_extra_connections() {
    let a = transport(|o| o.settings.max_connections = 1);
    let addr = a.listen().unwrap();
    let b = transport(|_| {});
    b.dial(&addr.to_string(), None).unwrap();
    pull_until(&a, 5, |e| e.kind == EventKind::PEERWIRE_EVENT_PEER_CONNECTED);
    let mut extra = std::net::TcpStream::connect(addr).unwrap();
    extra.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let mut buf = [0u8; 1];
    assert_eq!(extra.read(&mut buf).unwrap_or(0), 0, "extra connection closed at once");
    assert_eq!(a.peers().len(), 1);
}

#[test]
fn addresses_parse_or_fail_clearly() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let ok = |s: &str| rt.block_on(peerwire::transport::resolve(s)).unwrap();
    assert_eq!(ok("127.0.0.1:80")[0].port(), 80);
    assert!(ok("[::1]:9")[0].is_ipv6());
    assert_eq!(ok(":7000")[0].to_string(), "0.0.0.0:7000");
    assert!(ok("localhost:5").iter().all(|a| a.port() == 5));
    for bad in ["", "nonsense", "1.2.3.4", "host:port", "127.0.0.1:70000", "[::1", "a b:1"] {
        let e = rt.block_on(peerwire::transport::resolve(bad)).unwrap_err();
        assert_eq!(e.status(), peerwire::Status::PEERWIRE_ERR_ADDR, "{bad}: {e}");
    }
}

#[test]
fn ipv6_and_disconnect_reasons() {
    let a = transport(|o| o.settings.listen_addr = "[::1]:0".into());
    let addr = a.listen().unwrap();
    assert!(addr.is_ipv6());
    let b = transport(|_| {});
    let p = b.dial(&addr.to_string(), None).unwrap();
    b.send(p, b"v6").unwrap();
    pull_until(&a, 5, |e| e.kind == EventKind::PEERWIRE_EVENT_MESSAGE && &e.payload[..] == b"v6");
    b.disconnect(p).unwrap();
    let evs = pull_until(&b, 5, |e| e.kind == EventKind::PEERWIRE_EVENT_PEER_DISCONNECTED);
    assert_eq!(evs.last().unwrap().reason, Reason::PEERWIRE_REASON_CLOSED_LOCALLY);
    let evs = pull_until(&a, 5, |e| e.kind == EventKind::PEERWIRE_EVENT_PEER_DISCONNECTED);
    assert_eq!(evs.last().unwrap().reason, Reason::PEERWIRE_REASON_REMOTE_CLOSED);
    assert!(matches!(b.send(p, b"x"), Err(peerwire::Error::UnknownPeer(_))));
}
