//! `ctl --admin <url> <verb>`: talk to a running host's admin endpoint.
//!
//! One HTTP/1 request per command, over hyper's client (the admin server's own crate).
//! Listings are tables for people, `--json` gives the endpoint's JSON for scripts; `call`
//! prints the reply as `airssys-wasm call` does; a failure exits non-zero with the error the
//! endpoint sent.

use std::fmt::Write as _;

use anyhow::{Context, anyhow};
use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpStream;

use crate::args::{CtlArgs, CtlVerb};
use crate::exit::{Failure, Outcome, invalid, runtime};
use crate::payload;

/// Where the admin endpoint is: `http://host:port`, with no path.
struct Endpoint {
    authority: String,
}

impl Endpoint {
    fn parse(url: &str) -> Result<Self, Failure> {
        let rest = url.strip_prefix("http://").ok_or_else(|| {
            invalid(anyhow!(
                "--admin {url}: the admin endpoint is an http:// URL (for example http://127.0.0.1:9100)"
            ))
        })?;
        let authority = rest.trim_end_matches('/');
        if authority.is_empty() || authority.contains('/') {
            return Err(invalid(anyhow!(
                "--admin {url}: give the endpoint's address only, like http://127.0.0.1:9100"
            )));
        }
        Ok(Self {
            authority: authority.to_owned(),
        })
    }
}

/// A response: status and body.
struct Answer {
    status: StatusCode,
    body: Bytes,
}

impl Answer {
    fn json(&self) -> Result<Value, Failure> {
        serde_json::from_slice(&self.body)
            .with_context(|| {
                format!(
                    "the admin endpoint answered {} with a body that is not JSON",
                    self.status
                )
            })
            .map_err(runtime)
    }

    /// The endpoint's error as a failure: bad input (4xx but 401/404) is invalid input.
    fn failure(&self) -> Failure {
        let text = serde_json::from_slice::<Value>(&self.body)
            .ok()
            .and_then(|v| {
                let kind = v["error"]["kind"].as_str()?.to_owned();
                let message = v["error"]["message"].as_str()?.to_owned();
                Some(format!("{kind}: {message}"))
            })
            .unwrap_or_else(|| String::from_utf8_lossy(&self.body).into_owned());
        let error = anyhow!("{} ({})", text, self.status);
        match self.status {
            StatusCode::BAD_REQUEST | StatusCode::PAYLOAD_TOO_LARGE => invalid(error),
            _ => runtime(error),
        }
    }
}

/// One request; a response that is not a success is the failure it reports.
async fn exchange(
    endpoint: &Endpoint,
    token: Option<&str>,
    method: Method,
    path: &str,
    body: Vec<u8>,
) -> Result<Answer, Failure> {
    let unreachable = |e: &dyn std::fmt::Display| {
        runtime(anyhow!(
            "cannot reach the admin endpoint at http://{}: {e}",
            endpoint.authority
        ))
    };
    let stream = TcpStream::connect(&endpoint.authority)
        .await
        .map_err(|e| unreachable(&e))?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| unreachable(&e))?;
    let driver = tokio::spawn(connection);
    let mut request = Request::builder()
        .method(method)
        .uri(path)
        .header(http::header::HOST, endpoint.authority.as_str());
    if let Some(token) = token {
        request = request.header(http::header::AUTHORIZATION, format!("Bearer {token}"));
    }
    let request = request
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| invalid(anyhow!("cannot build the request for {path}: {e}")))?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| unreachable(&e))?;
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| unreachable(&e))?
        .to_bytes();
    driver.abort();
    let answer = Answer { status, body };
    if !answer.status.is_success() {
        return Err(answer.failure());
    }
    Ok(answer)
}

/// The path of a component's route.
fn component_path(id: &str, verb: Option<&str>) -> Result<String, Failure> {
    let parsed: wasm_host::ComponentId = id
        .parse()
        .with_context(|| format!("`{id}` is not a component id"))
        .map_err(invalid)?;
    Ok(match verb {
        Some(verb) => format!("/v1/components/{parsed}/{verb}"),
        None => format!("/v1/components/{parsed}"),
    })
}

pub async fn ctl(args: CtlArgs) -> Outcome {
    if let Some(url) = &args.cluster {
        return match args.verb {
            CtlVerb::Ls => {
                let cluster = crate::args::ClusterArgs {
                    url: url.clone(),
                    name: args.name.clone(),
                    replicas: 1,
                    creds: args.creds.clone(),
                    nats_token: args.nats_token.clone(),
                };
                crate::cluster_ls::ls(&cluster, args.json).await
            }
            _ => Err(invalid(anyhow!(
                "with --cluster, ctl only lists (`ls`); the other verbs talk to one host: give its --admin endpoint"
            ))),
        };
    }
    let admin = args.admin.as_deref().ok_or_else(|| {
        invalid(anyhow!(
            "ctl needs --admin <url> (or --cluster <url> for ls)"
        ))
    })?;
    let endpoint = Endpoint::parse(admin)?;
    let token = args.token.as_deref();
    let send = |method, path: String, body| {
        let endpoint = &endpoint;
        async move { exchange(endpoint, token, method, &path, body).await }
    };
    match &args.verb {
        CtlVerb::Ls => {
            let answer = send(Method::GET, "/v1/components".to_owned(), Vec::new()).await?;
            let list = answer.json()?;
            if args.json {
                println!("{list}");
            } else {
                print!("{}", table(&list));
            }
        }
        CtlVerb::Show { id } => {
            let answer = send(Method::GET, component_path(id, None)?, Vec::new()).await?;
            let entry = answer.json()?;
            if args.json {
                println!("{entry}");
            } else {
                print!("{}", details(&entry));
            }
        }
        CtlVerb::Call { id, payload } => {
            let body = payload::bytes(payload).map_err(invalid)?;
            let answer = send(Method::POST, component_path(id, Some("request"))?, body).await?;
            println!("{}", String::from_utf8_lossy(&answer.body));
        }
        CtlVerb::Send { id, payload } => {
            let body = payload::bytes(payload).map_err(invalid)?;
            send(Method::POST, component_path(id, Some("send"))?, body).await?;
        }
        CtlVerb::Stop { id } | CtlVerb::Start { id } => {
            let verb = if matches!(args.verb, CtlVerb::Stop { .. }) {
                "stop"
            } else {
                "start"
            };
            let answer = send(Method::POST, component_path(id, Some(verb))?, Vec::new()).await?;
            let done = answer.json()?;
            if args.json {
                println!("{done}");
            } else {
                println!("{id}: {}", done["state"].as_str().unwrap_or("?"));
            }
        }
        CtlVerb::Upgrade { id, file } => {
            let wasm = std::fs::read(file)
                .with_context(|| format!("cannot read {}", file.display()))
                .map_err(invalid)?;
            let answer = send(Method::POST, component_path(id, Some("upgrade"))?, wasm).await?;
            let done = answer.json()?;
            if args.json {
                println!("{done}");
            } else {
                let handed = if done["state_handed_over"].as_bool() == Some(true) {
                    "state handed over"
                } else {
                    "started fresh"
                };
                println!(
                    "{id}: upgraded from {} to {} ({handed})",
                    version(&done["from"]),
                    version(&done["to"])
                );
            }
        }
    }
    Ok(())
}

fn version(v: &Value) -> &str {
    match v.as_str() {
        Some("") | None => "?",
        Some(text) => text,
    }
}

fn number(v: &Value) -> String {
    v.as_u64().map_or_else(|| "-".to_owned(), |n| n.to_string())
}

/// The inventory as an aligned table, one component per line.
fn table(list: &Value) -> String {
    let header = [
        "ID", "STATE", "NAME", "VERSION", "HEALTH", "QUEUED", "HANDLED", "RESTARTS",
    ];
    let mut rows: Vec<[String; 8]> = vec![header.map(str::to_owned)];
    for entry in list.as_array().into_iter().flatten() {
        let text = |key: &str| entry[key].as_str().unwrap_or("-").to_owned();
        rows.push([
            text("id"),
            text("state"),
            text("name"),
            text("version"),
            text("health"),
            match (
                entry["mailbox"]["depth"].as_u64(),
                entry["mailbox"]["capacity"].as_u64(),
            ) {
                (Some(depth), Some(capacity)) => format!("{depth}/{capacity}"),
                _ => "-".to_owned(),
            },
            number(&entry["messages_handled"]),
            number(&entry["restarts"]),
        ]);
    }
    let widths: Vec<usize> = (0..8)
        .map(|i| rows.iter().map(|r| r[i].len()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in rows {
        let line: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        let _ = writeln!(out, "{}", line.join("  ").trim_end());
    }
    out
}

/// One component as `key: value` lines.
fn details(entry: &Value) -> String {
    let mut out = String::new();
    if let Some(map) = entry.as_object() {
        for (key, value) in map {
            let shown = match value {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            let _ = writeln!(out, "{key}: {shown}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_http_address_is_an_endpoint() {
        assert!(Endpoint::parse("http://127.0.0.1:9100").is_ok());
        assert!(Endpoint::parse("http://127.0.0.1:9100/").is_ok());
        assert!(Endpoint::parse("127.0.0.1:9100").is_err());
        assert!(Endpoint::parse("https://127.0.0.1:9100").is_err());
        assert!(Endpoint::parse("http://127.0.0.1:9100/v1").is_err());
    }

    #[test]
    fn the_table_aligns_its_columns() {
        let list = serde_json::json!([
            {"id": "demo/echo/1", "state": "running", "name": "echo", "version": "0.1.0",
             "health": "unknown", "mailbox": {"depth": 0, "capacity": 1024},
             "messages_handled": 3, "restarts": 0},
            {"id": "demo/a/1", "state": "stopped"}
        ]);
        let text = table(&list);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[0].starts_with("ID           STATE"), "{text}");
        assert!(lines[1].contains("0/1024"), "{text}");
        assert!(lines[2].starts_with("demo/a/1     stopped"), "{text}");
    }
}
