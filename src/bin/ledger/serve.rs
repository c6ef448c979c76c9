//! `ledger witness serve`: the C2SP tlog-witness HTTP interface in front of
//! [`ledger::tlog::witness::Witness`] (docs/FORMAT.md §19).
//!
//! This module owns only the transport: routes, statuses, content types,
//! size limits, timeouts, the bound on connections and the graceful stop.
//! What it must never do is decide anything about a checkpoint: parsing
//! the body, checking signatures and proofs, the state's lock, its
//! compare-and-swap and its fsyncs are all `Witness::add_checkpoint`'s, the
//! same code `ledger witness cosign` runs, so the transport cannot change
//! the state rules.
//!
//! Shape: hyper 1 (HTTP/1.1 only) on a single-threaded tokio runtime does
//! the I/O; a few plain worker threads, scoped to this function so that the
//! witness key is borrowed and never leaves its zeroizing owner, run the
//! blocking witness work. Requests reach them through a bounded channel.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{ALLOW, CONTENT_LENGTH, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use tokio::sync::{mpsc, oneshot, watch, Semaphore};

use ledger::tlog::witness::{response_body, AddCheckpoint, Witness, MAX_REQUEST_BYTES};

use crate::cli::*;
use crate::error::Failure;
use crate::out::*;

/// Connections served at once; more wait in the kernel's backlog.
const MAX_CONNECTIONS: usize = 256;
/// Threads doing the witness's (blocking) work. Mostly waiting on fsync:
/// requests for different logs hold different locks, and their fsyncs
/// overlap in the journal (docs/PERFORMANCE.md, "The witness over HTTP").
const WORKERS: usize = 16;
/// Requests queued for the workers before a connection waits.
const QUEUE: usize = 64;
/// Time to send a request's headers (and, on a kept-alive connection, to
/// start the next request).
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Time to send a request's body once its headers are in.
const BODY_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest a connection lives, whatever it does: the backstop against
/// a client that reads its responses too slowly.
const CONNECTION_LIFETIME: Duration = Duration::from_secs(120);
/// After SIGTERM or SIGINT, how long in-flight requests may take.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(15);

/// One request for a worker, with where to send the answer.
struct Job {
    task: Task,
    reply: oneshot::Sender<Response<Full<Bytes>>>,
}

enum Task {
    /// `POST /add-checkpoint` with this body.
    Add(Bytes),
    /// `GET /<origin hash>/checkpoint`.
    Latest(String),
}

pub(crate) fn witness_serve(out: &Out, args: ServeArgs) -> Result<(), Failure> {
    let ServeArgs {
        listen,
        key,
        name,
        state,
        log,
        pass,
    } = args;
    let key = pass.load(&key)?;
    let logs = log
        .iter()
        .map(|l| load_vkey(l, "--log"))
        .collect::<Result<Vec<_>, _>>()?;
    let witness = Witness::open(&state, &name, &key, logs)?;
    let listener = std::net::TcpListener::bind(listen)
        .map_err(|e| Failure::io(format!("--listen {listen}: {e}")))?;
    listener
        .set_nonblocking(true)
        .map_err(|e| Failure::io(format!("--listen {listen}: {e}")))?;
    let addr = listener
        .local_addr()
        .map_err(|e| Failure::io(format!("--listen {listen}: {e}")))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::io(format!("cannot start the HTTP server: {e}")))?;

    let (jobs, queue) = mpsc::channel::<Job>(QUEUE);
    let queue = Mutex::new(queue);
    let verbose = out.verbose;
    std::thread::scope(|s| {
        for _ in 0..WORKERS {
            s.spawn(|| work(&witness, &queue, verbose));
        }
        let served = runtime.block_on(async {
            let listener = tokio::net::TcpListener::from_std(listener)
                .map_err(|e| Failure::io(format!("--listen {listen}: {e}")))?;
            // Tests and scripts read the bound address (--listen may say
            // port 0): the first line on stdout, then nothing else there.
            let shown = if out.json {
                out.print(serde_json::json!({
                    "listening": format!("http://{addr}"),
                    "witness": name,
                    "vkey": witness.verifier().to_string(),
                }))
            } else {
                out.print(format_args!("http://{addr}"))
            };
            // A reader that left does not stop the witness: it serves on.
            match shown {
                Ok(()) | Err(Failure::BrokenPipe) => {}
                Err(e) => return Err(e),
            }
            out.note(format_args!(
                "witness {name} (vkey {}) serving POST /add-checkpoint on {addr}",
                witness.verifier()
            ));
            serve(listener, jobs).await
        });
        // Dropping the runtime drops any connection that outlived the
        // grace period, and with it the last sender: the workers' loops end.
        drop(runtime);
        served
    })?;
    out.note("witness stopped: every request in flight was answered");
    Ok(())
}

/// A worker: takes jobs until the channel closes.
fn work(witness: &Witness<'_>, queue: &Mutex<mpsc::Receiver<Job>>, verbose: bool) {
    loop {
        // One worker waits on the channel at a time; the others wait for
        // the mutex. A poisoned mutex (a worker panicked) stops this one.
        let job = match queue.lock() {
            Ok(mut q) => q.blocking_recv(),
            Err(_) => return,
        };
        let Some(job) = job else { return };
        let response = match &job.task {
            Task::Add(body) => add_checkpoint(witness, body, verbose),
            Task::Latest(hash) => latest(witness, hash),
        };
        // The client may have gone; nothing to do about it.
        let _ = job.reply.send(response);
    }
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn text(
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<Bytes>,
) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    r.headers_mut().insert(
        CONTENT_TYPE,
        hyper::header::HeaderValue::from_static(content_type),
    );
    r
}

fn plain(status: StatusCode, message: String) -> Response<Full<Bytes>> {
    text(status, "text/plain; charset=utf-8", format!("{message}\n"))
}

/// tlog-witness add-checkpoint, mapped from [`Witness::add_checkpoint`]'s
/// outcome by `WitnessError::status` (FORMAT §15.2).
fn add_checkpoint(witness: &Witness<'_>, body: &[u8], verbose: bool) -> Response<Full<Bytes>> {
    let result = AddCheckpoint::parse(body).and_then(|req| witness.add_checkpoint(&req, now()));
    match result {
        Ok(cosigs) => text(
            StatusCode::OK,
            "text/plain; charset=utf-8",
            response_body(&cosigs),
        ),
        Err(e) => {
            let status = e.status();
            if status == 500 || verbose {
                eprintln!("ledger: witness: {status}: {e}");
            }
            if let Some(size) = e.latest_size() {
                return text(
                    StatusCode::CONFLICT,
                    "text/x.tlog.size",
                    format!("{size}\n"),
                );
            }
            let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            // The witness's own failures are logged above, not told.
            let message = if status == 500 {
                "the witness could not process the request".to_owned()
            } else {
                e.to_string()
            };
            plain(code, message)
        }
    }
}

/// tlog-witness's monitoring endpoint: the latest cosigned checkpoint of
/// a trusted log, 404 if there is none.
fn latest(witness: &Witness<'_>, hash: &str) -> Response<Full<Bytes>> {
    match witness.latest_by_hash(hash) {
        Ok(Some(note)) => text(StatusCode::OK, "text/plain; charset=utf-8", note),
        Ok(None) => plain(
            StatusCode::NOT_FOUND,
            "this witness has cosigned no checkpoint of a log with that origin hash".into(),
        ),
        Err(e) => {
            eprintln!("ledger: witness: 500: {e}");
            plain(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the witness could not process the request".into(),
            )
        }
    }
}

/// Hands a task to the workers and waits for the answer.
async fn submit(jobs: &mpsc::Sender<Job>, task: Task) -> Response<Full<Bytes>> {
    let (reply, answer) = oneshot::channel();
    if jobs.send(Job { task, reply }).await.is_err() {
        return plain(
            StatusCode::SERVICE_UNAVAILABLE,
            "the witness is stopping".into(),
        );
    }
    answer.await.unwrap_or_else(|_| {
        plain(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the witness could not process the request".into(),
        )
    })
}

/// Accepts connections until SIGTERM or SIGINT, then stops accepting,
/// lets every connection finish its request in flight, and returns.
async fn serve(listener: tokio::net::TcpListener, jobs: mpsc::Sender<Job>) -> Result<(), Failure> {
    use tokio::signal::unix::{signal, SignalKind};
    let sig = |k| signal(k).map_err(|e| Failure::io(format!("cannot handle signals: {e}")));
    let mut term = sig(SignalKind::terminate())?;
    let mut int = sig(SignalKind::interrupt())?;
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let (stop_tx, stop_rx) = watch::channel(false);
    loop {
        // A slot before accepting: at most MAX_CONNECTIONS at once.
        let permit = tokio::select! {
            p = slots.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
            _ = term.recv() => break,
            _ = int.recv() => break,
        };
        let stream = tokio::select! {
            a = listener.accept() => match a {
                Ok((stream, _)) => stream,
                // EMFILE and the like: wait a little rather than spin.
                Err(_) => { tokio::time::sleep(Duration::from_millis(50)).await; continue }
            },
            _ = term.recv() => break,
            _ = int.recv() => break,
        };
        let jobs = jobs.clone();
        let mut stop = stop_rx.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| route(req, jobs.clone()));
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service);
            let mut conn = std::pin::pin!(conn);
            let life = tokio::time::sleep(CONNECTION_LIFETIME);
            let mut life = std::pin::pin!(life);
            tokio::select! {
                _ = conn.as_mut() => {}
                _ = &mut life => {}
                _ = stop.changed() => {
                    // Finish the request in flight, then close.
                    conn.as_mut().graceful_shutdown();
                    let _ = tokio::time::timeout(SHUTDOWN_GRACE, conn.as_mut()).await;
                }
            }
            drop(permit);
        });
    }
    drop(listener);
    let _ = stop_tx.send(true);
    drop(jobs);
    // Every connection holds a slot until it ends: all slots back means
    // every request in flight was answered.
    let _ = tokio::time::timeout(
        SHUTDOWN_GRACE + Duration::from_secs(1),
        slots.acquire_many(MAX_CONNECTIONS as u32),
    )
    .await;
    Ok(())
}

/// The routes (FORMAT §19.1): `POST /add-checkpoint`, and tlog-witness's
/// monitoring endpoint `GET /<origin hash>/checkpoint`.
async fn route(
    req: Request<Incoming>,
    jobs: mpsc::Sender<Job>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let monitored = req
        .uri()
        .path()
        .strip_prefix('/')
        .and_then(|p| p.strip_suffix("/checkpoint"))
        .filter(|h| h.len() == 64 && h.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
        .map(str::to_owned);
    if let Some(hash) = monitored {
        if req.method() != Method::GET && req.method() != Method::HEAD {
            let mut r = plain(
                StatusCode::METHOD_NOT_ALLOWED,
                "the monitoring endpoint is a GET".into(),
            );
            r.headers_mut()
                .insert(ALLOW, hyper::header::HeaderValue::from_static("GET, HEAD"));
            return Ok(r);
        }
        return Ok(submit(&jobs, Task::Latest(hash)).await);
    }
    if req.uri().path() != "/add-checkpoint" {
        return Ok(plain(
            StatusCode::NOT_FOUND,
            "no such endpoint; this witness serves POST /add-checkpoint and GET /<origin hash>/checkpoint".to_owned(),
        ));
    }
    if req.method() != Method::POST {
        let mut r = plain(
            StatusCode::METHOD_NOT_ALLOWED,
            "add-checkpoint must be a POST".into(),
        );
        r.headers_mut()
            .insert(ALLOW, hyper::header::HeaderValue::from_static("POST"));
        return Ok(r);
    }
    let too_large = || {
        plain(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("an add-checkpoint body is at most {MAX_REQUEST_BYTES} bytes"),
        )
    };
    // Refused before a byte of the body is read.
    let declared = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_REQUEST_BYTES as u64) {
        return Ok(too_large());
    }
    let body = Limited::new(req.into_body(), MAX_REQUEST_BYTES);
    let body = match tokio::time::timeout(BODY_TIMEOUT, body.collect()).await {
        Err(_) => {
            return Ok(plain(
                StatusCode::REQUEST_TIMEOUT,
                "the request body took too long".into(),
            ))
        }
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => return Ok(too_large()),
        Ok(Err(e)) => {
            return Ok(plain(
                StatusCode::BAD_REQUEST,
                format!("cannot read the request body: {e}"),
            ))
        }
        Ok(Ok(b)) => b.to_bytes(),
    };
    Ok(submit(&jobs, Task::Add(body)).await)
}
