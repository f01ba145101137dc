//! The procedure catalog (`config/procedures.toml`): every procedure a provincial party
//! committee runs, with its level and whether the portal may show it. A procedure missing from
//! the catalog is unknown, and an unknown procedure is refused (rule 1).

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use crate::doc::label::Level;

/// Why the catalog could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CatalogError {
    /// The file could not be read.
    #[error("cannot read procedure catalog {path}: {reason}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// TOML syntax, unknown keys, bad values.
    #[error("procedure catalog {path}: {reason}")]
    Syntax {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// A procedure entry is inconsistent.
    #[error("procedure catalog: {code}: {reason}")]
    Invalid {
        /// The procedure code.
        code: String,
        /// Why.
        reason: String,
    },
}

/// One procedure (quy trình).
#[derive(Clone, Debug, Deserialize, serde::Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Procedure {
    /// Code, e.g. `VB-01`.
    pub code: String,
    /// Vietnamese name.
    pub name: String,
    /// Field code: `VB`, `TC`, `CY`, `TCCB`, `KT`.
    pub field: String,
    /// Level of every document filed under it (the floor of their effective level).
    pub level: Level,
    /// Whether the portal may list it (never for a secret procedure).
    pub public: bool,
    /// Handling deadline in working days.
    pub deadline_days: u32,
    /// Forms (biểu mẫu) it uses.
    #[serde(default)]
    pub forms: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    fields: BTreeMap<String, String>,
    procedure: Vec<Procedure>,
}

/// The loaded catalog.
#[derive(Clone, Debug, Default)]
pub struct Catalog {
    fields: BTreeMap<String, String>,
    procedures: BTreeMap<String, Procedure>,
}

impl Catalog {
    /// Loads and checks a catalog file.
    pub fn load(path: &Path) -> Result<Self, CatalogError> {
        let text = std::fs::read_to_string(path).map_err(|e| CatalogError::Read {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Parses catalog TOML text.
    pub fn parse(text: &str, origin: &str) -> Result<Self, CatalogError> {
        let file: File = toml::from_str(text).map_err(|e| CatalogError::Syntax {
            path: origin.to_owned(),
            reason: e.to_string(),
        })?;
        let mut procedures = BTreeMap::new();
        for p in file.procedure {
            let invalid = |reason: &str| CatalogError::Invalid {
                code: p.code.clone(),
                reason: reason.to_owned(),
            };
            if !p.code.starts_with(&format!("{}-", p.field)) {
                return Err(invalid("the code does not start with its field"));
            }
            // A secret procedure is never published (MISSION rule 5).
            if p.public && p.level != Level::Thuong {
                return Err(invalid("a classified procedure cannot be public"));
            }
            if p.name.trim().is_empty() {
                return Err(invalid("empty name"));
            }
            if procedures.contains_key(&p.code) {
                return Err(invalid("listed twice"));
            }
            procedures.insert(p.code.clone(), p);
        }
        Ok(Self {
            fields: file.fields,
            procedures,
        })
    }

    /// The procedure with this code.
    pub fn get(&self, code: &str) -> Option<&Procedure> {
        self.procedures.get(code)
    }

    /// Every procedure, by code.
    pub fn all(&self) -> impl Iterator<Item = &Procedure> {
        self.procedures.values()
    }

    /// The Vietnamese name of a field code.
    pub fn field_name(&self, field: &str) -> Option<&str> {
        self.fields.get(field).map(String::as_str)
    }

    /// How many procedures.
    pub fn len(&self) -> usize {
        self.procedures.len()
    }

    /// Whether the catalog is empty.
    pub fn is_empty(&self) -> bool {
        self.procedures.is_empty()
    }
}
