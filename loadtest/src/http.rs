//! A keep-alive HTTP/1.1 JSON client over one connection, on hyper.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::Value;

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("connect to {0}: {1}")]
    Connect(String, std::io::Error),
    #[error("http: {0}")]
    Hyper(#[from] hyper::Error),
    #[error("bad url {0}")]
    Url(String),
    #[error("{status} from {path}: {body}")]
    Status {
        status: StatusCode,
        path: String,
        body: String,
    },
}

/// One connection to the api.
#[derive(Debug)]
pub struct Conn {
    host: String,
    sender: SendRequest<Full<Bytes>>,
}

impl Conn {
    /// Connects to `base` (`http://host:port`).
    pub async fn connect(base: &str) -> Result<Self, HttpError> {
        let host = base
            .strip_prefix("http://")
            .ok_or_else(|| HttpError::Url(base.to_owned()))?
            .trim_end_matches('/')
            .to_owned();
        let stream = tokio::net::TcpStream::connect(&host)
            .await
            .map_err(|e| HttpError::Connect(host.clone(), e))?;
        let _ = stream.set_nodelay(true);
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(Self { host, sender })
    }

    /// Sends a JSON request and returns the status and JSON answer.
    pub async fn call(
        &mut self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Result<(StatusCode, Value), HttpError> {
        self.call_with(method, path, token, body, &[]).await
    }

    /// Like [`Conn::call`], with extra headers (e.g. `Idempotency-Key`).
    pub async fn call_with(
        &mut self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> Result<(StatusCode, Value), HttpError> {
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header("host", &self.host)
            .header("content-type", "application/json");
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        let bytes = body
            .map(|b| serde_json::to_vec(b).unwrap_or_default())
            .unwrap_or_default();
        let req = req
            .body(Full::new(Bytes::from(bytes)))
            .map_err(|e| HttpError::Url(e.to_string()))?;
        self.sender.ready().await?;
        let res = self.sender.send_request(req).await?;
        let status = res.status();
        let body = res.into_body().collect().await?.to_bytes();
        let json = serde_json::from_slice(&body).unwrap_or(Value::Null);
        Ok((status, json))
    }

    /// Like [`Conn::call`], but anything other than 2xx is an error.
    pub async fn ok(
        &mut self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Result<Value, HttpError> {
        let (status, json) = self.call(method, path, token, body).await?;
        if !status.is_success() {
            return Err(HttpError::Status {
                status,
                path: path.to_owned(),
                body: json.to_string(),
            });
        }
        Ok(json)
    }
}
