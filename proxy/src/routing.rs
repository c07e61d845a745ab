//! Route matching: route keys such as `GET /pets/{id}` compiled into a segment tree that answers
//! with AWS API Gateway precedence — a literal segment beats a `{param}`, which beats a greedy
//! `{proxy+}`; an exact method beats `ANY`; the most specific route wins, backtracking when a
//! branch has no route for the request's method.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, LazyLock};

use http::Method;

/// A parsed route key: a method (or `ANY`) and a path template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteKey {
    /// `None` for `ANY`.
    pub method: Option<Method>,
    /// The path template, one entry per `/`-separated segment.
    pub segments: Vec<Segment>,
}

/// One segment of a path template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// Matches exactly this text.
    Literal(String),
    /// `{name}`: matches any one non-empty segment.
    Param(String),
    /// `{name+}`: matches one or more segments; only last.
    Greedy(String),
}

/// Why a route key was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteKeyError {
    /// Not `METHOD /path`.
    #[error("a route key is `METHOD /path` (e.g. `GET /pets/{{id}}`) or `$default`")]
    Shape,
    /// The method is not one API Gateway knows.
    #[error("unknown method `{0}`, expected ANY, GET, POST, PUT, PATCH, DELETE, HEAD or OPTIONS")]
    Method(String),
    /// A segment is malformed.
    #[error("invalid path segment `{0}`: parameters are `{{name}}` or, last only, `{{name+}}`")]
    Segment(String),
    /// A parameter name is used twice.
    #[error("path parameter `{0}` appears twice")]
    DuplicateParam(String),
}

impl RouteKey {
    /// Parse `METHOD /path/{param}/{greedy+}`.
    pub fn parse(key: &str) -> Result<Self, RouteKeyError> {
        let (method, path) = key.split_once(' ').ok_or(RouteKeyError::Shape)?;
        if !path.starts_with('/') || path.contains(' ') {
            return Err(RouteKeyError::Shape);
        }
        let method = match method {
            "ANY" => None,
            "GET" | "POST" | "PUT" | "PATCH" | "DELETE" | "HEAD" | "OPTIONS" => {
                Some(Method::from_bytes(method.as_bytes()).map_err(|_| RouteKeyError::Shape)?)
            }
            other => return Err(RouteKeyError::Method(other.to_string())),
        };
        let raw: Vec<&str> = split_path(path).collect();
        let mut segments = Vec::with_capacity(raw.len());
        let mut names: Vec<String> = Vec::new();
        for (i, text) in raw.iter().enumerate() {
            let segment = parse_segment(text, i + 1 == raw.len())?;
            if let Segment::Param(name) | Segment::Greedy(name) = &segment {
                if names.contains(name) {
                    return Err(RouteKeyError::DuplicateParam(name.clone()));
                }
                names.push(name.clone());
            }
            segments.push(segment);
        }
        Ok(Self { method, segments })
    }

    /// The names of the template's parameters, in path order (greedy names without the `+`).
    pub fn param_names(&self) -> impl Iterator<Item = &str> {
        self.segments.iter().filter_map(|s| match s {
            Segment::Param(name) | Segment::Greedy(name) => Some(name.as_str()),
            Segment::Literal(_) => None,
        })
    }
}

fn parse_segment(text: &str, is_last: bool) -> Result<Segment, RouteKeyError> {
    let bad = || RouteKeyError::Segment(text.to_string());
    let Some(inner) = text.strip_prefix('{').and_then(|t| t.strip_suffix('}')) else {
        if text.contains(['{', '}']) {
            return Err(bad());
        }
        return Ok(Segment::Literal(text.to_string()));
    };
    let (name, greedy) = match inner.strip_suffix('+') {
        Some(name) => (name, true),
        None => (inner, false),
    };
    let valid_name =
        !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid_name || (greedy && !is_last) {
        return Err(bad());
    }
    Ok(if greedy {
        Segment::Greedy(name.to_string())
    } else {
        Segment::Param(name.to_string())
    })
}

/// The `/`-separated segments of a request path; a trailing slash adds no segment.
pub fn split_path(path: &str) -> impl Iterator<Item = &str> {
    let trimmed = path.strip_prefix('/').unwrap_or(path);
    let trimmed = trimmed.strip_suffix('/').unwrap_or(trimmed);
    trimmed.split('/').filter(move |_| !trimmed.is_empty())
}

impl fmt::Display for RouteKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.method {
            Some(method) => write!(f, "{method} ")?,
            None => write!(f, "ANY ")?,
        }
        if self.segments.is_empty() {
            return write!(f, "/");
        }
        for segment in &self.segments {
            match segment {
                Segment::Literal(text) => write!(f, "/{text}")?,
                Segment::Param(name) => write!(f, "/{{{name}}}")?,
                Segment::Greedy(name) => write!(f, "/{{{name}+}}")?,
            }
        }
        Ok(())
    }
}

/// A route tree mapping `(method, path)` to values of type `T`.
#[derive(Debug)]
pub struct Router<T> {
    root: Node<T>,
}

#[derive(Debug)]
struct Node<T> {
    literals: HashMap<String, Node<T>>,
    param: Option<Box<Node<T>>>,
    /// Boxed: few nodes have greedy routes, and every literal child is a node in its parent's
    /// map (10,000 routes under one segment: 10,000 nodes).
    greedy: Option<Box<Endpoints<T>>>,
    here: Endpoints<T>,
}

#[derive(Debug)]
struct Endpoints<T> {
    by_method: Vec<(Method, Entry<T>)>,
    any: Option<Entry<T>>,
}

#[derive(Debug)]
struct Entry<T> {
    value: T,
    names: Arc<[Arc<str>]>,
    /// The route key as written, for conflicts.
    key: Arc<str>,
}

/// A successful match: the route's value and its path parameters (raw, still percent-encoded).
#[derive(Debug)]
pub struct RouteMatch<'a, T> {
    /// The matched route's value.
    pub value: &'a T,
    /// `(name, value)` per template parameter, in path order.
    pub params: Vec<(Arc<str>, String)>,
}

/// Two route keys that would match exactly the same requests.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("route conflicts with `{existing}`, which matches the same requests")]
pub struct RouteConflict {
    /// The route key inserted first.
    pub existing: String,
}

impl<T> Default for Router<T> {
    fn default() -> Self {
        Self { root: Node::new() }
    }
}

impl<T> Node<T> {
    fn new() -> Self {
        Self {
            literals: HashMap::new(),
            param: None,
            greedy: None,
            here: Endpoints::new(),
        }
    }
}

impl<T> Endpoints<T> {
    fn new() -> Self {
        Self {
            by_method: Vec::new(),
            any: None,
        }
    }

    fn select(&self, method: &Method) -> Option<&Entry<T>> {
        self.by_method
            .iter()
            .find(|(m, _)| m == method)
            .map(|(_, entry)| entry)
            .or(self.any.as_ref())
    }

    fn insert(&mut self, method: Option<&Method>, entry: Entry<T>) -> Result<(), RouteConflict> {
        let existing = match method {
            None => self.any.as_ref(),
            Some(method) => self
                .by_method
                .iter()
                .find(|(m, _)| m == method)
                .map(|(_, e)| e),
        };
        if let Some(existing) = existing {
            return Err(RouteConflict {
                existing: existing.key.to_string(),
            });
        }
        match method {
            None => self.any = Some(entry),
            Some(method) => self.by_method.push((method.clone(), entry)),
        }
        Ok(())
    }
}

/// The parameter names of a route without parameters.
static NO_PARAMS: LazyLock<Arc<[Arc<str>]>> = LazyLock::new(|| Arc::new([]));

impl<T> Router<T> {
    /// Add the route `key` (written as `name`). Fails if an earlier route has the same method
    /// and path shape.
    pub fn insert(
        &mut self,
        key: &RouteKey,
        name: Arc<str>,
        value: T,
    ) -> Result<(), RouteConflict> {
        let mut names = key.param_names().peekable();
        let names: Arc<[Arc<str>]> = match names.peek() {
            // One allocation shared by every route without parameters.
            None => NO_PARAMS.clone(),
            Some(_) => names.map(Arc::from).collect(),
        };
        let entry = Entry {
            value,
            names,
            key: name,
        };
        let method = key.method.as_ref();
        let mut node = &mut self.root;
        for segment in &key.segments {
            node = match segment {
                Segment::Literal(text) => {
                    node.literals.entry(text.clone()).or_insert_with(Node::new)
                }
                Segment::Param(_) => node.param.get_or_insert_with(|| Box::new(Node::new())),
                Segment::Greedy(_) => {
                    let greedy = node
                        .greedy
                        .get_or_insert_with(|| Box::new(Endpoints::new()));
                    return greedy.insert(method, entry);
                }
            };
        }
        node.here.insert(method, entry)
    }

    /// Find the most specific route for `method` and `path` (the path after any stage prefix).
    pub fn find(&self, method: &Method, path: &str) -> Option<RouteMatch<'_, T>> {
        let segments: Vec<&str> = split_path(path).collect();
        let mut values = Vec::new();
        let entry = find_in(&self.root, &segments, method, &mut values)?;
        let params = entry.names.iter().cloned().zip(values).collect();
        Some(RouteMatch {
            value: &entry.value,
            params,
        })
    }
}

fn find_in<'t, T>(
    node: &'t Node<T>,
    segments: &[&str],
    method: &Method,
    values: &mut Vec<String>,
) -> Option<&'t Entry<T>> {
    let Some((first, rest)) = segments.split_first() else {
        return node.here.select(method);
    };
    if let Some(child) = node.literals.get(*first) {
        if let Some(found) = find_in(child, rest, method, values) {
            return Some(found);
        }
    }
    if let Some(child) = node.param.as_deref().filter(|_| !first.is_empty()) {
        values.push((*first).to_string());
        if let Some(found) = find_in(child, rest, method, values) {
            return Some(found);
        }
        values.pop();
    }
    let found = node.greedy.as_deref()?.select(method)?;
    values.push(segments.join("/"));
    Some(found)
}

#[cfg(test)]
mod tests;
