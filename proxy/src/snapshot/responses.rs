//! An API's gateway responses: per error type, the status, headers and body template that
//! replace the gateway's own.

use std::collections::BTreeMap;

use super::integrations::compile_headers;
use crate::config::*;
use crate::gateway_response::{CustomResponse, GatewayResponses, ResponseType};
use crate::template::{Scope, Template};

pub(super) fn compile_gateway_responses(
    responses: &[Named<GatewayResponseFile>],
    diags: &mut Diagnostics,
) -> GatewayResponses {
    let mut compiled = GatewayResponses::default();
    let no_variables = BTreeMap::new();
    let scope = Scope {
        stage_variables: &no_variables,
        request: false,
        error: true,
        braced_path_params: false,
    };
    for response in responses {
        let Some(response_type) = ResponseType::parse(response.name.get_ref()) else {
            let known: Vec<&str> = crate::gateway_response::ErrorKind::ALL
                .iter()
                .map(|k| k.response_type())
                .chain(["DEFAULT_4XX", "DEFAULT_5XX"])
                .collect();
            diags.error(
                Some(response.name.span()),
                &response.path,
                format!(
                    "unknown gateway response type, expected one of {}",
                    known.join(", ")
                ),
            );
            continue;
        };
        let file = &response.value;
        let status = file.status.as_ref().map(|s| (*s.get_ref(), s.span()));
        if let Some((status, span)) = &status {
            if !(100..=599).contains(status) {
                diags.error(
                    Some(span.clone()),
                    &format!("{}.status", response.path),
                    "a status is between 100 and 599",
                );
                continue;
            }
        }
        let Some(headers) =
            compile_headers(&file.headers, &format!("{}.headers", response.path), diags)
        else {
            continue;
        };
        let body = match file.body.as_deref().map(|b| Template::parse(b, scope)) {
            Some(Ok(template)) => Some(template),
            Some(Err(e)) => {
                diags.error(None, &format!("{}.body", response.path), e);
                continue;
            }
            None => None,
        };
        compiled.insert(
            response_type,
            CustomResponse {
                status: status.map(|(s, _)| s),
                headers,
                body,
            },
        );
    }
    compiled
}
