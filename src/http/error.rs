//! `ApiError`: one variant per error code of SPEC §4, answered as
//! `{"error": {"code": "...", "message": "..."}}`. Client mistakes are not logged.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// Everything a request can be refused for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiError {
    /// `ip` (or a forwarded address) is not an address.
    InvalidIp(String),
    /// A required parameter is missing.
    MissingParameter(&'static str),
    /// A parameter is malformed, unknown or out of range.
    InvalidParameter(String),
    /// No title has this id.
    UnknownTitle(String),
    /// `at` is not RFC 3339 with an offset.
    InvalidTime(String),
    /// The platform is not in the catalog's vocabulary.
    UnknownPlatform(String),
    /// `home` is not an ISO 3166-1 alpha-2 country.
    InvalidCountry(String),
    /// More titles than one batch may ask about.
    TooManyTitles(usize),
    /// The body is larger than the limit.
    BodyTooLarge(usize),
    /// The body is not JSON of the expected shape.
    InvalidJson(String),
    /// No such route.
    NotFound,
    /// The route exists but not with this method.
    MethodNotAllowed,
    /// A missing or wrong admin token.
    Unauthorized,
    /// Too many failed admin attempts; every attempt is refused until the window ends.
    TooManyAttempts,
    /// A reload asked for by the admin route failed; the messages of each failed source.
    ReloadFailed(Vec<String>),
    /// Too many requests in flight.
    Overloaded,
    /// The request body did not arrive in time.
    Timeout,
    /// The request took longer than any request may.
    RequestTimeout,
}

impl ApiError {
    /// The spec's code.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::InvalidIp(_) => "invalid_ip",
            ApiError::MissingParameter(_) => "missing_parameter",
            ApiError::InvalidParameter(_) => "invalid_parameter",
            ApiError::UnknownTitle(_) => "unknown_title",
            ApiError::InvalidTime(_) => "invalid_time",
            ApiError::UnknownPlatform(_) => "unknown_platform",
            ApiError::InvalidCountry(_) => "invalid_country",
            ApiError::TooManyTitles(_) => "too_many_titles",
            ApiError::BodyTooLarge(_) => "body_too_large",
            ApiError::InvalidJson(_) => "invalid_json",
            ApiError::NotFound => "not_found",
            ApiError::MethodNotAllowed => "method_not_allowed",
            ApiError::Unauthorized => "unauthorized",
            ApiError::TooManyAttempts => "too_many_attempts",
            ApiError::ReloadFailed(_) => "reload_failed",
            ApiError::Overloaded => "overloaded",
            ApiError::Timeout => "timeout",
            ApiError::RequestTimeout => "timeout",
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::UnknownTitle(_) | ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::BodyTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::TooManyAttempts => StatusCode::TOO_MANY_REQUESTS,
            ApiError::ReloadFailed(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Overloaded => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Timeout => StatusCode::REQUEST_TIMEOUT,
            ApiError::RequestTimeout => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    /// For people.
    pub fn message(&self) -> String {
        match self {
            ApiError::InvalidIp(value) => format!("`{value}` is not an IPv4 or IPv6 address"),
            ApiError::MissingParameter(name) => format!("the `{name}` parameter is required"),
            ApiError::InvalidParameter(message) => message.clone(),
            ApiError::UnknownTitle(id) => format!("no title has the id `{id}`"),
            ApiError::InvalidTime(value) => {
                format!(
                    "`{value}` is not an RFC 3339 time with an offset, such as 2026-11-23T10:00:00Z"
                )
            }
            ApiError::UnknownPlatform(name) => format!("`{name}` is not a platform of the catalog"),
            ApiError::InvalidCountry(value) => {
                format!("`{value}` is not an ISO 3166-1 alpha-2 country code")
            }
            ApiError::TooManyTitles(limit) => format!("ask about at most {limit} titles at once"),
            ApiError::BodyTooLarge(limit) => format!("the body is larger than {limit} bytes"),
            ApiError::InvalidJson(message) => message.clone(),
            ApiError::NotFound => "no such route".into(),
            ApiError::MethodNotAllowed => "this route does not take that method".into(),
            ApiError::Unauthorized => "a valid `Authorization: Bearer <token>` is required".into(),
            ApiError::TooManyAttempts => {
                "too many failed attempts; every attempt is refused for up to a minute".into()
            }
            ApiError::ReloadFailed(_) => {
                "a source failed to reload; the last good version is still served".into()
            }
            ApiError::Overloaded => "too many requests in flight; retry shortly".into(),
            ApiError::Timeout => "the request body did not arrive in time".into(),
            ApiError::RequestTimeout => "the request took too long; retry".into(),
        }
    }
}

/// The body of every error answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// What went wrong.
    pub error: ErrorInfo,
}

/// `{code, message}`, and with `reload_failed` the messages of each failed source.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorInfo {
    /// The spec's code, such as `invalid_ip`.
    pub code: &'static str,
    /// For people.
    pub message: String,
    /// With `reload_failed`: `source: path:line:col: message` lines.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<Vec<String>>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let details = match &self {
            ApiError::ReloadFailed(messages) => Some(messages.clone()),
            _ => None,
        };
        let body = ErrorBody {
            error: ErrorInfo {
                code: self.code(),
                message: self.message(),
                details,
            },
        };
        (self.status(), Json(body)).into_response()
    }
}
