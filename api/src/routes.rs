//! The route table. It is data, not code, so a test can compare it with
//! `openapi.yaml` and fail when the two disagree.

use hyper::Method;

/// Every endpoint the api serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RouteId {
    Register,
    Login,
    Me,
    GetUser,
    FindUser,
    RequestFriend,
    RemoveFriend,
    ListFriends,
    CreateChat,
    ListChats,
    GetChat,
    AddMember,
    RemoveMember,
    PostMessage,
    ListMessages,
    EditMessage,
    DeleteMessage,
    CreatePost,
    ListPosts,
    DeletePost,
    Feed,
    TopicEvents,
    Healthz,
    Readyz,
    Metrics,
    OpenApi,
}

/// One row of the table: method, path pattern (`{name}` captures a segment).
#[derive(Debug, Clone, Copy)]
pub struct Route {
    pub method: &'static str,
    pub pattern: &'static str,
    pub id: RouteId,
}

const fn r(method: &'static str, pattern: &'static str, id: RouteId) -> Route {
    Route {
        method,
        pattern,
        id,
    }
}

/// The whole API.
pub const ROUTES: &[Route] = &[
    r("POST", "/v1/auth/register", RouteId::Register),
    r("POST", "/v1/auth/login", RouteId::Login),
    r("GET", "/v1/me", RouteId::Me),
    r("GET", "/v1/users", RouteId::FindUser),
    r("GET", "/v1/users/{id}", RouteId::GetUser),
    r("GET", "/v1/users/{id}/posts", RouteId::ListPosts),
    r("GET", "/v1/friends", RouteId::ListFriends),
    r("POST", "/v1/friends/{user_id}", RouteId::RequestFriend),
    r("DELETE", "/v1/friends/{user_id}", RouteId::RemoveFriend),
    r("POST", "/v1/chats", RouteId::CreateChat),
    r("GET", "/v1/chats", RouteId::ListChats),
    r("GET", "/v1/chats/{id}", RouteId::GetChat),
    r("POST", "/v1/chats/{id}/members", RouteId::AddMember),
    r(
        "DELETE",
        "/v1/chats/{id}/members/{user_id}",
        RouteId::RemoveMember,
    ),
    r("POST", "/v1/chats/{id}/messages", RouteId::PostMessage),
    r("GET", "/v1/chats/{id}/messages", RouteId::ListMessages),
    r(
        "PATCH",
        "/v1/chats/{id}/messages/{seq}",
        RouteId::EditMessage,
    ),
    r(
        "DELETE",
        "/v1/chats/{id}/messages/{seq}",
        RouteId::DeleteMessage,
    ),
    r("POST", "/v1/posts", RouteId::CreatePost),
    r("DELETE", "/v1/posts/{id}", RouteId::DeletePost),
    r("GET", "/v1/feed", RouteId::Feed),
    r("GET", "/v1/topics/{topic}/events", RouteId::TopicEvents),
    r("GET", "/healthz", RouteId::Healthz),
    r("GET", "/readyz", RouteId::Readyz),
    r("GET", "/metrics", RouteId::Metrics),
    r("GET", "/v1/openapi.yaml", RouteId::OpenApi),
];

impl RouteId {
    /// Whether the route needs a bearer token.
    pub fn needs_auth(self) -> bool {
        !matches!(
            self,
            RouteId::Register
                | RouteId::Login
                | RouteId::Healthz
                | RouteId::Readyz
                | RouteId::Metrics
                | RouteId::OpenApi
        )
    }

    /// The pattern, used as the metrics label (bounded cardinality).
    pub fn pattern(self) -> &'static str {
        ROUTES
            .iter()
            .find(|r| r.id == self)
            .map_or("unknown", |r| r.pattern)
    }
}

/// What matching a request found.
#[derive(Debug, PartialEq, Eq)]
pub enum Matched<'a> {
    /// The route and its captured segments, in order.
    Route(RouteId, Vec<&'a str>),
    /// The path exists but not with this method.
    WrongMethod,
    NoSuchPath,
}

fn captures<'a>(pattern: &str, path: &'a str) -> Option<Vec<&'a str>> {
    let mut want = pattern.split('/');
    let mut got = path.split('/');
    let mut caps = Vec::new();
    loop {
        match (want.next(), got.next()) {
            (None, None) => return Some(caps),
            (Some(w), Some(g)) if w.starts_with('{') => {
                if g.is_empty() {
                    return None;
                }
                caps.push(g);
            }
            (Some(w), Some(g)) if w == g => {}
            _ => return None,
        }
    }
}

/// Finds the route for `method` and `path`.
pub fn match_route<'a>(method: &Method, path: &'a str) -> Matched<'a> {
    let mut path_exists = false;
    for route in ROUTES {
        if let Some(caps) = captures(route.pattern, path) {
            if route.method == method.as_str() {
                return Matched::Route(route.id, caps);
            }
            path_exists = true;
        }
    }
    if path_exists {
        Matched::WrongMethod
    } else {
        Matched::NoSuchPath
    }
}

/// The methods served on `path` (for the `Allow` header of a 405).
pub fn allowed_methods(path: &str) -> Vec<&'static str> {
    ROUTES
        .iter()
        .filter(|r| captures(r.pattern, path).is_some())
        .map(|r| r.method)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_literals_and_captures() {
        assert_eq!(
            match_route(&Method::PATCH, "/v1/chats/7/messages/3"),
            Matched::Route(RouteId::EditMessage, vec!["7", "3"])
        );
        assert_eq!(
            match_route(&Method::GET, "/v1/users"),
            Matched::Route(RouteId::FindUser, vec![])
        );
        assert_eq!(
            match_route(&Method::GET, "/v1/users/9/posts"),
            Matched::Route(RouteId::ListPosts, vec!["9"])
        );
        assert_eq!(match_route(&Method::PUT, "/v1/chats"), Matched::WrongMethod);
        assert_eq!(match_route(&Method::GET, "/v1/chats/"), Matched::NoSuchPath);
        assert_eq!(match_route(&Method::GET, "/v1/nope"), Matched::NoSuchPath);
        assert_eq!(
            match_route(&Method::GET, "/v1/chats/1/x"),
            Matched::NoSuchPath
        );
    }

    #[test]
    fn every_route_is_reachable() {
        for route in ROUTES {
            let path = route
                .pattern
                .split('/')
                .map(|s| if s.starts_with('{') { "1" } else { s })
                .collect::<Vec<_>>()
                .join("/");
            let method = Method::from_bytes(route.method.as_bytes()).unwrap();
            match match_route(&method, &path) {
                Matched::Route(id, _) => assert_eq!(id, route.id, "{path}"),
                other => panic!("{path}: {other:?}"),
            }
        }
    }
}
