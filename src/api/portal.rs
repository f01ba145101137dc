//! The public portal: the procedures the policy allows to publish, as JSON
//! (`GET /public/v1/procedures`) and as a server-rendered page in Vietnamese
//! (`GET /portal`, readable on a phone, no JavaScript). A secret procedure is not redacted here:
//! it is absent, because every entry passes `policy::decide(…, Way::Publication)` first.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use crate::gateway::Shared;
use crate::policy::{Facts, Procedure, Way, decide};

/// The procedures publication allows, in code order.
pub fn publishable(shared: &Shared) -> Vec<&Procedure> {
    shared
        .catalog
        .all()
        .filter(|p| {
            let facts = Facts {
                level: Some(p.level),
                procedure: Some(p.code.as_str()),
                public: p.public,
                recorded: None,
            };
            decide(&facts, &shared.catalog, Way::Publication).allowed()
        })
        .collect()
}

/// `GET /public/v1/procedures`.
pub async fn procedures_json(State(shared): State<Arc<Shared>>) -> Response {
    let list: Vec<serde_json::Value> = publishable(&shared)
        .into_iter()
        .map(|p| {
            serde_json::json!({
                "code": p.code,
                "name": p.name,
                "field": p.field,
                "field_name": shared.catalog.field_name(&p.field),
                "deadline_days": p.deadline_days,
                "forms": p.forms,
            })
        })
        .collect();
    axum::Json(serde_json::json!({ "organ": shared.config.organ, "procedures": list }))
        .into_response()
}

fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// `GET /portal`.
pub async fn page(State(shared): State<Arc<Shared>>) -> Response {
    let procs = publishable(&shared);
    let mut fields: Vec<&str> = procs.iter().map(|p| p.field.as_str()).collect();
    fields.dedup();
    let mut html = String::from(
        "<!doctype html><html lang=\"vi\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>Thủ tục hành chính</title>\
         <style>body{font-family:sans-serif;margin:1rem;max-width:48rem}\
         li{margin:.4rem 0}small{color:#555}</style></head><body>",
    );
    html.push_str(&format!(
        "<h1>Thủ tục hành chính trong Đảng</h1><p>{}</p>",
        esc(&shared.config.organ_name)
    ));
    for f in fields {
        let name = shared.catalog.field_name(f).unwrap_or(f);
        html.push_str(&format!("<h2 id=\"{}\">{}</h2><ul>", esc(f), esc(name)));
        for p in procs.iter().filter(|p| p.field == f) {
            html.push_str(&format!(
                "<li><b>{}</b> {} <small>— {} ngày làm việc; biểu mẫu: {}</small></li>",
                esc(&p.code),
                esc(&p.name),
                p.deadline_days,
                esc(&p.forms.join(", "))
            ));
        }
        html.push_str("</ul>");
    }
    html.push_str("</body></html>");
    let mut r = html.into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    r
}
