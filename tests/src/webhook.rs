//! An Alertmanager-style webhook receiver for end-to-end tests: records the JSON bodies the
//! hierarchy's `notify.webhook` POSTs, answers 200.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

/// Records the POST bodies an Alertmanager-style webhook receives.
pub struct Webhook {
    /// Its port on 127.0.0.1.
    pub port: u16,
    posts: Arc<Mutex<Vec<Value>>>,
}

impl Webhook {
    /// Listens on a free port (at most 200 connections) until the process ends.
    pub fn start() -> Webhook {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a local port for the webhook");
        let port = listener.local_addr().expect("its address").port();
        let posts = Arc::new(Mutex::new(Vec::new()));
        let seen = posts.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().take(200) {
                let Ok(mut stream) = stream else { continue };
                let seen = seen.clone();
                std::thread::spawn(move || {
                    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 8192];
                    loop {
                        let n = match stream.read(&mut chunk) {
                            Ok(0) | Err(_) => return,
                            Ok(n) => n,
                        };
                        buf.extend_from_slice(&chunk[..n]);
                        let text = String::from_utf8_lossy(&buf).into_owned();
                        let Some((head, body)) = text.split_once("\r\n\r\n") else {
                            continue;
                        };
                        let len = head
                            .lines()
                            .find_map(|l| {
                                l.to_ascii_lowercase()
                                    .strip_prefix("content-length:")
                                    .and_then(|v| v.trim().parse::<usize>().ok())
                            })
                            .unwrap_or(0);
                        if body.len() < len {
                            continue;
                        }
                        if let Ok(v) = serde_json::from_str(&body[..len]) {
                            seen.lock()
                                .unwrap_or_else(std::sync::PoisonError::into_inner)
                                .push(v);
                        }
                        let _ = stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n");
                        buf.clear();
                    }
                });
            }
        });
        Webhook { port, posts }
    }

    /// Every alert's `annotations.action` (open, update, close), in arrival order.
    pub fn actions(&self) -> Vec<String> {
        self.posts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .flat_map(|p| p.as_array().cloned().unwrap_or_default())
            .map(|a| {
                a["annotations"]["action"]
                    .as_str()
                    .unwrap_or("")
                    .to_string()
            })
            .collect()
    }
}

impl Webhook {
    /// Every POST body received so far.
    pub fn posts(&self) -> Vec<Value> {
        self.posts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Every alert received so far (the bodies are arrays of alerts), in arrival order.
    pub fn alerts(&self) -> Vec<Value> {
        self.posts()
            .iter()
            .flat_map(|p| p.as_array().cloned().unwrap_or_default())
            .collect()
    }
}
