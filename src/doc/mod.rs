//! The edXML envelope: the XML tree and its one parser, the writer, exclusive c14n, and the
//! typed envelope (QCVN 102:2016) with lienthong's classification label.

pub mod c14n;
pub mod parse;
pub mod tree;
pub mod write;

pub use parse::{Limits, ParseError, parse};
pub use tree::{Attr, Document, Element, Node, NsDecl};
pub mod envelope;
pub mod label;
pub mod types;
