//! `lienthong doc …`: create, validate, canonicalise and show edXML envelopes.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use lienthong::doc::c14n::{Options, canonicalize};
use lienthong::doc::envelope::field::{FieldDocument, SignatureShape, Written, parse_any};
use lienthong::doc::envelope::{
    Attachment, Body, Code, DocumentType, Envelope, EnvelopeLimits, MessageHeader, Organization,
    OtherInfo, PromulgationInfo, SignerInfo, compute_document_id, parse_envelope,
};
use lienthong::doc::label::{Label, Level};
use lienthong::doc::types::{BusinessDocType, EdxmlDate, OrganId, Priority, ProcedureCode};
use lienthong::doc::{Limits, parse};
use serde_json::json;

use super::CliError;

/// `lienthong doc` subcommands.
#[derive(Subcommand, Debug)]
pub(crate) enum DocCommand {
    /// Write a new, unsigned envelope.
    New(Box<NewArgs>),
    /// Check envelopes against lienthong's edXML profile (exit 1 if any is invalid).
    Validate(ValidateArgs),
    /// Print the exclusive canonical form (W3C exc-c14n, without comments) of a document.
    C14n(C14nArgs),
    /// Summarise an envelope; the subject of a classified document only with --content.
    Show(ShowArgs),
    /// Write an envelope in the field form the platform's SDKs read (root edXML, attachments
    /// in AttachmentEncoded by cid:; unsigned; docs/EDXML.md).
    ToField(ToFieldArgs),
}

/// Arguments of `lienthong doc to-field`.
#[derive(Args, Debug)]
pub(crate) struct ToFieldArgs {
    /// The envelope (lienthong's profile, signed or not).
    file: PathBuf,
    /// Where to write (stdout when absent).
    #[arg(short = 'o', long = "out")]
    out: Option<PathBuf>,
}

/// Arguments of `lienthong doc new`.
#[derive(Args, Debug)]
pub(crate) struct NewArgs {
    /// Issuing organ id, e.g. HU.CHAUTHANH.
    #[arg(long)]
    from: OrganId,
    /// Name of the issuing organ (default: the demo name for a known id, else the id).
    #[arg(long)]
    from_name: Option<String>,
    /// Recipient organ id (repeat for several).
    #[arg(long = "to", required = true)]
    to: Vec<OrganId>,
    /// Code number (số), e.g. 07.
    #[arg(long)]
    code: String,
    /// Code notation (ký hiệu), e.g. NQ/ĐUK.
    #[arg(long)]
    notation: String,
    /// Subject (trích yếu).
    #[arg(long)]
    subject: String,
    /// Classification level: thuong, mat, toi-mat, tuyet-mat.
    #[arg(long)]
    level: Level,
    /// Mark the document for the public portal (only takes effect for unclassified documents).
    #[arg(long)]
    public: bool,
    /// Procedure code, e.g. VB-01.
    #[arg(long)]
    procedure: ProcedureCode,
    /// Priority 0-4 (0 Thường, 1 Khẩn, 2 Thượng khẩn, 3 Hỏa tốc, 4 Hỏa tốc hẹn giờ).
    #[arg(long, default_value = "0")]
    priority: Priority,
    /// Body text.
    #[arg(long, default_value = "")]
    content: String,
    /// A file to attach (repeat for several).
    #[arg(long)]
    attach: Vec<PathBuf>,
    /// Date of issue, yyyy/MM/dd (default: today, Vietnam time).
    #[arg(long)]
    date: Option<EdxmlDate>,
    /// Place of issue (default: from the issuing organ).
    #[arg(long)]
    place: Option<String>,
    /// Document type name (default: from the notation, e.g. NQ → Nghị quyết).
    #[arg(long)]
    type_name: Option<String>,
    /// Signer's authority (thẩm quyền), e.g. "TM. BAN THƯỜNG VỤ".
    #[arg(long, default_value = "")]
    signer_competence: String,
    /// Signer's position.
    #[arg(long, default_value = "")]
    signer_position: String,
    /// Signer's full name.
    #[arg(long, default_value = "")]
    signer_name: String,
    /// Output file (default: stdout).
    #[arg(short = 'o', long = "out")]
    out: Option<PathBuf>,
}

/// Arguments of `lienthong doc validate`.
#[derive(Args, Debug)]
pub(crate) struct ValidateArgs {
    /// Files to check.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Machine-readable output.
    #[arg(long)]
    json: bool,
}

/// Arguments of `lienthong doc c14n`.
#[derive(Args, Debug)]
pub(crate) struct C14nArgs {
    /// The document.
    file: PathBuf,
}

/// Arguments of `lienthong doc show`.
#[derive(Args, Debug)]
pub(crate) struct ShowArgs {
    /// The envelope.
    file: PathBuf,
    /// Also show subject and content of classified documents, and the content of any.
    #[arg(long)]
    content: bool,
    /// Machine-readable output.
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(c: DocCommand) -> Result<(), CliError> {
    match c {
        DocCommand::New(a) => new(&a),
        DocCommand::Validate(a) => validate(&a),
        DocCommand::C14n(a) => c14n(&a),
        DocCommand::Show(a) => show(&a),
        DocCommand::ToField(a) => to_field(&a),
    }
}

fn to_field(a: &ToFieldArgs) -> Result<(), CliError> {
    let bytes = read(&a.file)?;
    let (_, env) = parse_envelope(&bytes, &EnvelopeLimits::default())
        .map_err(|e| CliError::invalid(format!("{}: {e}", a.file.display())))?;
    let out = lienthong::doc::envelope::field::to_field_bytes(&env)
        .map_err(|e| CliError::invalid(format!("{}: {e}", a.file.display())))?;
    match &a.out {
        Some(p) => std::fs::write(p, &out)
            .map_err(|e| CliError::usage(format!("{}: cannot write: {e}", p.display()))),
        None => std::io::stdout()
            .write_all(&out)
            .map_err(|e| CliError::usage(format!("cannot write to stdout: {e}"))),
    }
}

/// The demo's organs (shared constants of the project).
fn known_organ(id: &OrganId) -> Option<(&'static str, &'static str)> {
    match id.as_str() {
        "VPTW" => Some(("Văn phòng Trung ương Đảng", "Hà Nội")),
        "TU.BENTRE" => Some(("Văn phòng Tỉnh ủy Bến Tre", "Bến Tre")),
        "HU.CHAUTHANH" => Some(("Văn phòng Huyện ủy Châu Thành", "Châu Thành")),
        _ => None,
    }
}

fn organ_name(id: &OrganId) -> String {
    known_organ(id).map_or_else(|| id.to_string(), |(n, _)| n.to_owned())
}

/// Document type from the notation's first part (`NQ/ĐUK` → NQ, Nghị quyết).
fn document_type(notation: &str, name: Option<&str>) -> DocumentType {
    let kind = notation
        .split(['/', '-'])
        .next()
        .unwrap_or_default()
        .to_owned();
    let default = match kind.as_str() {
        "NQ" => "Nghị quyết",
        "CT" => "Chỉ thị",
        "QĐ" => "Quyết định",
        "TB" => "Thông báo",
        "BC" => "Báo cáo",
        "KH" => "Kế hoạch",
        "HD" => "Hướng dẫn",
        "TTr" => "Tờ trình",
        _ => "Công văn",
    };
    DocumentType {
        kind,
        name: name.unwrap_or(default).to_owned(),
    }
}

fn content_type(path: &Path) -> &'static str {
    match path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("pdf") => "application/pdf",
        Some("txt") => "text/plain; charset=utf-8",
        Some("xml") => "application/xml",
        Some("doc") => "application/msword",
        Some("docx") => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        Some("odt") => "application/vnd.oasis.opendocument.text",
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        _ => "application/octet-stream",
    }
}

fn read(path: &Path) -> Result<Vec<u8>, CliError> {
    std::fs::read(path)
        .map_err(|e| CliError::usage(format!("{}: cannot read: {e}", path.display())))
}

fn new(a: &NewArgs) -> Result<(), CliError> {
    let date = match a.date {
        Some(d) => d,
        None => EdxmlDate(
            time::OffsetDateTime::now_utc()
                .to_offset(time::macros::offset!(+7))
                .date(),
        ),
    };
    let code = Code {
        number: a.code.clone(),
        notation: a.notation.clone(),
    };
    let mut from = Organization::new(
        a.from.clone(),
        a.from_name.clone().unwrap_or_else(|| organ_name(&a.from)),
    );
    from.organ_add = known_organ(&a.from).map(|(_, p)| p.to_owned());
    let to: Vec<Organization> =
        a.to.iter()
            .map(|t| Organization::new(t.clone(), organ_name(t)))
            .collect();
    let mut to_places: Vec<String> = to.iter().map(|t| t.organ_name.clone()).collect();
    to_places.push("Lưu Văn phòng".to_owned());
    let place = a
        .place
        .clone()
        .unwrap_or_else(|| known_organ(&a.from).map_or_else(String::new, |(_, p)| p.to_owned()));

    let mut attachments = Vec::with_capacity(a.attach.len());
    for (i, p) in a.attach.iter().enumerate() {
        let file_name = p
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| CliError::usage(format!("{}: not a file name", p.display())))?
            .to_owned();
        attachments.push(Attachment {
            content_id: format!("att-{}", i + 1),
            file_name,
            content_type: content_type(p).to_owned(),
            data: read(p)?,
        });
    }

    let env = Envelope {
        header: MessageHeader {
            document_id: compute_document_id(&a.from, date, &code),
            from,
            to,
            code,
            promulgation: PromulgationInfo { place, date },
            document_type: document_type(&a.notation, a.type_name.as_deref()),
            subject: a.subject.clone(),
            content: a.content.clone(),
            signer: SignerInfo {
                competence: a.signer_competence.clone(),
                position: a.signer_position.clone(),
                full_name: a.signer_name.clone(),
            },
            due_date: None,
            to_places,
            other: OtherInfo::new(a.priority),
            response_for: Vec::new(),
            steering_type: None,
            business_doc_type: BusinessDocType::New,
            ext: Default::default(),
        },
        // Trace headers are added by each gateway as the document passes it.
        trace: Vec::new(),
        label: Label {
            level: a.level,
            procedure: a.procedure.clone(),
            public: a.public,
        },
        signature: None,
        header_ext: Default::default(),
        body: Body {
            attachments,
            ext: Default::default(),
            sealed: None,
        },
    };
    let bytes = env.to_bytes();
    // What lienthong writes, it must accept: the same checks (limits, file names, XML
    // characters) as for a received document.
    parse_envelope(&bytes, &EnvelopeLimits::default())
        .map_err(|e| CliError::invalid(format!("the new document would be invalid: {e}")))?;
    match &a.out {
        Some(p) => std::fs::write(p, &bytes)
            .map_err(|e| CliError::usage(format!("{}: cannot write: {e}", p.display()))),
        None => std::io::stdout()
            .write_all(&bytes)
            .map_err(|e| CliError::usage(format!("cannot write to stdout: {e}"))),
    }
}

fn validate(a: &ValidateArgs) -> Result<(), CliError> {
    let limits = EnvelopeLimits::default();
    let mut unreadable = 0usize;
    let mut invalid = 0usize;
    let mut results = Vec::new();
    for f in &a.files {
        let outcome = match std::fs::read(f) {
            Err(e) => {
                unreadable += 1;
                Err(format!("cannot read: {e}"))
            }
            Ok(bytes) => parse_any(&bytes, &limits).map_err(|e| {
                invalid += 1;
                e.to_string()
            }),
        };
        let name = f.display().to_string();
        if a.json {
            results.push(match &outcome {
                Ok((_, w)) => json!({ "file": name, "valid": true, "profile": profile(w) }),
                Err(e) => json!({ "file": name, "valid": false, "error": e }),
            });
        } else {
            match &outcome {
                Err(e) => println!("{name}: {e}"),
                Ok((_, Written::Field(d))) => println!("{name}: {}", field_summary(d)),
                Ok((_, Written::Lienthong(_))) => {}
            }
        }
    }
    if a.json {
        println!("{}", json!({ "results": results }));
    }
    let total = a.files.len();
    if unreadable > 0 {
        Err(CliError::usage(format!(
            "{unreadable} of {total} files could not be read"
        )))
    } else if invalid > 0 {
        Err(CliError::invalid(format!(
            "{invalid} of {total} documents are invalid"
        )))
    } else {
        Ok(())
    }
}

fn profile(w: &Written) -> &'static str {
    match w {
        Written::Lienthong(_) => "lienthong",
        Written::Field(_) => "field",
    }
}

/// One line for a valid field-form document: it is valid, but say what it is not.
fn field_summary(d: &FieldDocument) -> String {
    let signed = match d.signature {
        SignatureShape::XmlDsig => "XML-DSig signed (not verified here)",
        SignatureShape::Lookalike { .. } => {
            "unsigned (its edXML-namespace Signature is not XML-DSig)"
        }
        SignatureShape::None => "unsigned",
    };
    let label = if d.label.is_some() {
        "labelled"
    } else {
        "no label"
    };
    format!("valid in the field form; {signed}; {label}")
}

fn c14n(a: &C14nArgs) -> Result<(), CliError> {
    let bytes = read(&a.file)?;
    let doc = parse(&bytes, &Limits::default())
        .map_err(|e| CliError::invalid(format!("{}: {e}", a.file.display())))?;
    let out = canonicalize(&doc.root, &[], &Options::default());
    std::io::stdout()
        .write_all(&out)
        .map_err(|e| CliError::usage(format!("cannot write to stdout: {e}")))
}

const WITHHELD: &str = "(classified: use --content)";

fn show(a: &ShowArgs) -> Result<(), CliError> {
    // Read and parse the envelope.
    let bytes = read(&a.file)?;
    let (_, written) = parse_any(&bytes, &EnvelopeLimits::default())
        .map_err(|e| CliError::invalid(format!("{}: {e}", a.file.display())))?;
    let env = match written {
        Written::Lienthong(env) => env,
        Written::Field(d) => {
            let out = if a.json {
                format!("{}\n", super::doc_field::json(&d, a.content))
            } else {
                super::doc_field::text(&d, a.content)
            };
            return std::io::stdout()
                .write_all(out.as_bytes())
                .map_err(|e| CliError::usage(format!("cannot write to stdout: {e}")));
        }
    };
    // What may be shown of it.
    let view = Disclosure::of(&env, a.content);
    if a.json {
        println!("{}", show_json(&env, &view));
        return Ok(());
    }
    // The text form: header, then label and body.
    let mut s = String::new();
    show_header(&mut s, &env, &view);
    show_label_and_body(&mut s, &env, &view);
    std::io::stdout()
        .write_all(s.as_bytes())
        .map_err(|e| CliError::usage(format!("cannot write to stdout: {e}")))
}

/// What `doc show` may show of an envelope.
struct Disclosure<'a> {
    /// The envelope's security label.
    label: &'a Label,
    /// Above Thường: the subject itself may be secret.
    classified: bool,
    /// The subject, unless classified and not asked for.
    subject: Option<&'a str>,
    /// The content, when asked for.
    content: Option<&'a str>,
    /// `--content`: show subject and content whatever the level.
    reveal: bool,
}

impl<'a> Disclosure<'a> {
    /// What may be shown of `env`; `reveal` is `--content`.
    fn of(env: &'a Envelope, reveal: bool) -> Self {
        let h = &env.header;
        let label = env.label();
        // Above Thường the subject itself may be secret: shown only on request.
        let classified = label.level > Level::Thuong;
        Self {
            label,
            classified,
            subject: (!classified || reveal).then_some(h.subject.as_str()),
            content: reveal.then_some(h.content.as_str()),
            reveal,
        }
    }
}

/// `doc show --json`: the envelope as one JSON object.
fn show_json(env: &Envelope, view: &Disclosure<'_>) -> serde_json::Value {
    let h = &env.header;
    json!({
        "document_id": env.document_id(),
        "from": { "organ_id": h.from.organ_id, "name": h.from.organ_name },
        "to": h.to.iter().map(|t| json!({ "organ_id": t.organ_id, "name": t.organ_name }))
            .collect::<Vec<_>>(),
        "number": format!("{}-{}", h.code.number, h.code.notation),
        "date": h.promulgation.date,
        "type": h.document_type.name,
        "subject": view.subject,
        "content": view.content,
        "withheld": view.classified && !view.reveal,
        "label": view.label,
        "priority": { "code": env.priority().code(), "name": env.priority().name_vi() },
        "attachments": env.body.attachments.iter().map(|x| json!({
            "content_id": x.content_id, "file_name": x.file_name,
            "content_type": x.content_type, "size": x.data.len(),
        })).collect::<Vec<_>>(),
        "signed": env.signature.is_some(),
        "trace": env.trace.iter().map(|t| json!({
            "organ_id": t.organ_id, "timestamp": t.timestamp
        })).collect::<Vec<_>>(),
    })
}

/// One `doc show` line: the key padded to 12 columns, then the value.
fn push_line(s: &mut String, k: &str, v: &str) {
    s.push_str(&format!("{k:<12}{v}\n"));
}

/// `doc show` lines of the header: id, sender, recipients, number, date, subject.
fn show_header(s: &mut String, env: &Envelope, view: &Disclosure<'_>) {
    let h = &env.header;
    push_line(s, "Document:", env.document_id());
    push_line(
        s,
        "From:",
        &format!("{} ({})", h.from.organ_id, h.from.organ_name),
    );
    for t in &h.to {
        push_line(s, "To:", &format!("{} ({})", t.organ_id, t.organ_name));
    }
    push_line(
        s,
        "Number:",
        &format!(
            "{}-{} ({})",
            h.code.number, h.code.notation, h.document_type.name
        ),
    );
    push_line(s, "Date:", &h.promulgation.date.to_string());
    push_line(s, "Subject:", view.subject.unwrap_or(WITHHELD));
}

/// `doc show` lines of the label and body: level, procedure, priority, signature,
/// attachments, content.
fn show_label_and_body(s: &mut String, env: &Envelope, view: &Disclosure<'_>) {
    let label = view.label;
    push_line(
        s,
        "Level:",
        &format!("{} ({})", label.level.name_vi(), label.level),
    );
    push_line(
        s,
        "Procedure:",
        &format!(
            "{}{}",
            label.procedure,
            if label.public { ", public" } else { "" }
        ),
    );
    push_line(
        s,
        "Priority:",
        &format!("{} ({})", env.priority().name_vi(), env.priority().code()),
    );
    push_line(
        s,
        "Signed:",
        if env.signature.is_some() { "yes" } else { "no" },
    );
    if env.body.attachments.is_empty() {
        push_line(s, "Attachments:", "none");
    }
    for x in &env.body.attachments {
        push_line(
            s,
            "Attachment:",
            &format!(
                "{} ({}, {} bytes)",
                x.file_name,
                x.content_type,
                x.data.len()
            ),
        );
    }
    if view.reveal {
        s.push_str("Content:\n");
        s.push_str(&env.header.content);
        s.push('\n');
    } else if view.classified {
        push_line(s, "Content:", WITHHELD);
    }
}
