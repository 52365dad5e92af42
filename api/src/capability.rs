//! What extensions offer other components, and how a component says which extension it uses.
//!
//! A receiver or exporter that names an extension in its config (`auth: {authenticator:
//! bearertokenauth}`, `sending_queue: {storage: file_storage}`) reports each reference with
//! its key path, so validation can refuse a reference to an extension that is not defined, not
//! listed in `service.extensions`, or of a type that does not offer what is asked, before
//! anything starts. At build time the component finds the capability in the [`crate::Host`].

use std::fmt;

use crate::id::ComponentId;

/// A kind of service an extension offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Capability {
    /// Disk queues ([`crate::StorageCapability`]).
    Storage,
    /// Request authentication ([`crate::AuthCapability`]).
    Auth,
}

impl Capability {
    /// How a user would call an extension that offers it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Storage => "storage",
            Self::Auth => "authenticator",
        }
    }
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One reference from a component's config to an extension.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtensionRef {
    /// The key path inside the component's body (`protocols::grpc::auth::authenticator`).
    pub path: String,
    /// The extension as written.
    pub id: ComponentId,
    /// What the component needs from it.
    pub capability: Capability,
}

impl ExtensionRef {
    pub fn new(path: impl Into<String>, id: ComponentId, capability: Capability) -> Self {
        Self {
            path: path.into(),
            id,
            capability,
        }
    }
}
