//! `GET /v1/topics/{topic}/events`: durable catch-up for clients that were
//! away longer than the gateway's replay rings reach.

use hyper::{Response, StatusCode};
use tidings_storage::Topic;

use super::Call;
use crate::error::ApiError;
use crate::response::{self, Body};
use crate::state::App;

pub(super) async fn list(app: &App, call: &Call) -> Result<Response<Body>, ApiError> {
    let name = call.params.first().map_or("", String::as_str);
    let topic: Topic = name
        .parse()
        .map_err(|_| ApiError::NotFound(format!("topic {name:?} not found")))?;
    let after = call.query.uint("after")?.unwrap_or(0);
    let page = app
        .timed(
            "topic_events",
            app.store()
                .topic_events(call.me()?, topic, after, call.query.limit()?),
        )
        .await?;
    Ok(response::json(StatusCode::OK, &page))
}
