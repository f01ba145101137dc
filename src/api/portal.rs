//! The public portal, server-rendered in Vietnamese (readable on a phone, no JavaScript):
//!
//! - `GET /public/v1/procedures` (JSON) and `GET /portal`: the procedures the policy allows to
//!   publish, by field, with deadline and forms;
//! - `GET /public/v1/documents` (JSON) and `GET /portal/van-ban`: the documents that passed
//!   rule 6 (level `thuong`, the document's public flag, a public procedure) when they were
//!   accepted, read from the store's public index — the only documents the portal can reach;
//! - `GET /portal/portal.css`, the one asset, and a Vietnamese 404 page for any other
//!   `/portal/…` path.
//!
//! A secret procedure or document is not redacted here: it is absent, because every entry
//! passed `policy::decide(…, Way::Publication)` (and passes it again when served).

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use axum::http::StatusCode;

use crate::doc::label::Level;
use crate::gateway::{Shared, blocking, rfc3339_ms};
use crate::policy::{Facts, Procedure, Way, decide};
use crate::store::PublicEntry;

/// How many documents the portal lists (newest first).
const MAX_DOCUMENTS: usize = 200;

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

/// The stylesheet (`/portal/portal.css`): small, no web fonts, no script.
const CSS: &str = "body{font-family:system-ui,sans-serif;margin:0 auto;padding:1rem;max-width:48rem;\
line-height:1.45;color:#111}nav a{margin-right:1rem}li{margin:.5rem 0}small{color:#555}\
header{border-bottom:2px solid #b00;margin-bottom:1rem}h1{font-size:1.4rem}h2{font-size:1.15rem}\
table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #ddd;padding:.3rem;\
text-align:left;vertical-align:top}@media (max-width:30rem){td,th{display:block}}";

fn html_response(status: StatusCode, html: String) -> Response {
    let mut r = (status, html).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    r
}

/// The frame every portal page shares: title, organ, navigation.
fn page_frame(shared: &Shared, title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"vi\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{t}</title><link rel=\"stylesheet\" href=\"/portal/portal.css\"></head><body>\
         <header><p>{organ}</p><nav><a href=\"/portal\">Thủ tục hành chính</a>\
         <a href=\"/portal/van-ban\">Văn bản công khai</a></nav></header>\
         <main>{body}</main><footer><small>Dữ liệu: \
         <a href=\"/public/v1/procedures\">thủ tục (JSON)</a> · \
         <a href=\"/public/v1/documents\">văn bản (JSON)</a></small></footer></body></html>",
        t = esc(title),
        organ = esc(&shared.config.organ_name),
    )
}

/// `GET /portal`.
pub async fn page(State(shared): State<Arc<Shared>>) -> Response {
    let procs = publishable(&shared);
    let mut fields: Vec<&str> = procs.iter().map(|p| p.field.as_str()).collect();
    fields.dedup();
    let mut body = String::from("<h1>Thủ tục hành chính trong Đảng</h1>");
    for f in fields {
        let name = shared.catalog.field_name(f).unwrap_or(f);
        body.push_str(&format!("<h2 id=\"{}\">{}</h2><ul>", esc(f), esc(name)));
        for p in procs.iter().filter(|p| p.field == f) {
            body.push_str(&format!(
                "<li><b>{}</b> {} <small>— {} ngày làm việc; biểu mẫu: {}</small></li>",
                esc(&p.code),
                esc(&p.name),
                p.deadline_days,
                esc(&p.forms.join(", "))
            ));
        }
        body.push_str("</ul>");
    }
    html_response(
        StatusCode::OK,
        page_frame(&shared, "Thủ tục hành chính", &body),
    )
}

/// The public index, each entry checked again against rule 6 (a procedure withdrawn from the
/// portal since takes its documents with it).
async fn published(shared: &Arc<Shared>) -> Result<Vec<PublicEntry>, crate::api::problem::Problem> {
    let store = shared.store.clone();
    let entries = blocking(move || store.public_documents(MAX_DOCUMENTS))
        .await?
        .map_err(|e| crate::api::problem::Problem::internal("public index", e))?;
    Ok(entries
        .into_iter()
        .filter(|e| {
            let facts = Facts {
                level: Some(Level::Thuong),
                procedure: Some(e.procedure.as_str()),
                public: true,
                recorded: None,
            };
            decide(&facts, &shared.catalog, Way::Publication).allowed()
        })
        .collect())
}

/// `GET /public/v1/documents`.
pub async fn documents_json(State(shared): State<Arc<Shared>>) -> Response {
    let entries = match published(&shared).await {
        Ok(e) => e,
        Err(p) => return p.into_response(),
    };
    let list: Vec<serde_json::Value> = entries
        .iter()
        .map(|e| {
            serde_json::json!({
                "document_id": e.document_id,
                "code": e.code,
                "subject": e.subject,
                "from": e.from,
                "from_name": e.from_name,
                "procedure": e.procedure,
                "procedure_name": shared.catalog.get(&e.procedure).map(|p| p.name.as_str()),
                "promulgated": e.promulgated,
                "published_at": rfc3339_ms(e.published_at_ms),
            })
        })
        .collect();
    axum::Json(serde_json::json!({ "organ": shared.config.organ, "documents": list }))
        .into_response()
}

/// `GET /portal/van-ban`.
pub async fn documents_page(State(shared): State<Arc<Shared>>) -> Response {
    let entries = match published(&shared).await {
        Ok(e) => e,
        Err(p) => return p.into_response(),
    };
    let mut body = String::from("<h1>Văn bản công khai</h1>");
    if entries.is_empty() {
        body.push_str("<p>Chưa có văn bản nào được công khai.</p>");
    } else {
        body.push_str(
            "<table><thead><tr><th>Số, ký hiệu</th><th>Ngày ban hành</th><th>Trích yếu</th>\
             <th>Cơ quan ban hành</th><th>Thủ tục</th></tr></thead><tbody>",
        );
        for e in &entries {
            let procedure = shared
                .catalog
                .get(&e.procedure)
                .map_or(e.procedure.clone(), |p| format!("{} {}", p.code, p.name));
            body.push_str(&format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&e.code),
                esc(&e.promulgated),
                esc(&e.subject),
                esc(&e.from_name),
                esc(&procedure),
            ));
        }
        body.push_str("</tbody></table>");
    }
    html_response(
        StatusCode::OK,
        page_frame(&shared, "Văn bản công khai", &body),
    )
}

/// `GET /portal/portal.css`.
pub async fn stylesheet() -> Response {
    let mut r = CSS.into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/css; charset=utf-8"),
    );
    r
}

/// Any other `/portal/…` path: a Vietnamese 404 page that echoes nothing of the request.
pub async fn not_found(State(shared): State<Arc<Shared>>) -> Response {
    html_response(
        StatusCode::NOT_FOUND,
        page_frame(
            &shared,
            "Không tìm thấy trang",
            "<h1>Không tìm thấy trang</h1><p>Trang bạn yêu cầu không tồn tại. \
             Mời xem <a href=\"/portal\">danh mục thủ tục</a> hoặc \
             <a href=\"/portal/van-ban\">văn bản công khai</a>.</p>",
        ),
    )
}
