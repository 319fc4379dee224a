//! Request handlers, one module per area of the contract. Each turns one
//! request into one store call and shapes the answer.

mod auth;
mod chats;
mod events;
mod friends;
mod messages;
mod ops;
mod posts;
mod users;

use std::net::IpAddr;

use bytes::Bytes;
use hyper::header::{HeaderMap, HeaderValue};
use hyper::{Method, Response, StatusCode};
use serde::Serialize;
use tidings_storage::{Committed, UserId, Write};

use crate::error::ApiError;
use crate::request::{self, Query};
use crate::response::{self, Body};
use crate::routes::RouteId;
use crate::state::App;

/// One request, read and authenticated, on its way to a handler.
#[derive(Debug)]
pub struct Call {
    pub method: Method,
    pub path: String,
    pub params: Vec<String>,
    pub query: Query,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub user: Option<UserId>,
    pub peer: IpAddr,
}

impl Call {
    /// The authenticated caller (set on every route that needs a token).
    pub fn me(&self) -> Result<UserId, ApiError> {
        self.user.ok_or_else(|| {
            ApiError::Unauthorized("an Authorization: Bearer token is required".into())
        })
    }

    /// The write context, with the request's idempotency key.
    pub fn write(&self) -> Result<Write, ApiError> {
        request::write_for(
            self.me()?,
            self.method.as_str(),
            &self.path,
            &self.headers,
            &self.body,
        )
    }

    /// Path parameter `i` as an id (`what` names it in the 404).
    pub fn id<T: std::str::FromStr>(&self, i: usize, what: &str) -> Result<T, ApiError> {
        request::path_id(self.params.get(i).map_or("", String::as_str), what)
    }
}

/// Answers a committed write: publishes its deltas, then replies.
pub(crate) fn committed<T: Serialize>(
    app: &App,
    c: &Committed<T>,
    status: StatusCode,
) -> Response<Body> {
    app.publish(&c.deltas);
    let mut res = response::json(status, &c.value);
    mark_replay(&mut res, c.replayed);
    res
}

/// Answers a committed write that has no body (204).
pub(crate) fn committed_empty(app: &App, c: &Committed<()>) -> Response<Body> {
    app.publish(&c.deltas);
    let mut res = response::no_content();
    mark_replay(&mut res, c.replayed);
    res
}

fn mark_replay(res: &mut Response<Body>, replayed: bool) {
    if replayed {
        res.headers_mut()
            .insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
}

/// Runs the handler of `route`.
pub(crate) async fn dispatch(
    app: &App,
    route: RouteId,
    call: Call,
) -> Result<Response<Body>, ApiError> {
    match route {
        RouteId::Register => auth::register(app, &call).await,
        RouteId::Login => auth::login(app, &call).await,
        RouteId::Me => users::me(app, &call).await,
        RouteId::GetUser => users::get(app, &call).await,
        RouteId::FindUser => users::find(app, &call).await,
        RouteId::RequestFriend => friends::request(app, &call).await,
        RouteId::RemoveFriend => friends::remove(app, &call).await,
        RouteId::ListFriends => friends::list(app, &call).await,
        RouteId::CreateChat => chats::create(app, &call).await,
        RouteId::ListChats => chats::list(app, &call).await,
        RouteId::GetChat => chats::get(app, &call).await,
        RouteId::AddMember => chats::add_member(app, &call).await,
        RouteId::RemoveMember => chats::remove_member(app, &call).await,
        RouteId::PostMessage => messages::post(app, &call).await,
        RouteId::ListMessages => messages::list(app, &call).await,
        RouteId::EditMessage => messages::edit(app, &call).await,
        RouteId::DeleteMessage => messages::delete(app, &call).await,
        RouteId::CreatePost => posts::create(app, &call).await,
        RouteId::ListPosts => posts::list(app, &call).await,
        RouteId::DeletePost => posts::delete(app, &call).await,
        RouteId::Feed => posts::feed(app, &call).await,
        RouteId::TopicEvents => events::list(app, &call).await,
        RouteId::Healthz => Ok(ops::healthz()),
        RouteId::Readyz => ops::readyz(app).await,
        RouteId::Metrics => Ok(ops::metrics(app)),
        RouteId::OpenApi => Ok(ops::openapi()),
    }
}
