//! Bindings: how a table becomes a stream.
//!
//! A [`ModelBinding`] names a table, its stream and its [`Field`]s; a [`Registry`] holds every
//! binding a server answers. Both adapters take the same registry, so a program switches
//! runtimes without touching its bindings.
//!
//! ```
//! use chanbind_engine::binding::{Field, ModelBinding};
//!
//! let users = ModelBinding::new("auth_user")
//!     .field(Field::string("username").max_length(150).required().unique())
//!     .field(Field::email("email").max_length(254))
//!     .field(Field::boolean("is_active").default(true))
//!     .search(["username", "email"]);
//! assert_eq!(users.stream(), "auth.User");
//! ```

mod computed;
mod custom;
mod field;
mod hooks;
mod model;
mod registry;
mod relations;

pub(crate) use crate::kind::array_literal;
pub use crate::kind::EnumType;
pub use crate::kind::FieldKind;
pub use computed::{Computed, FilterAs};
pub use custom::{CustomBinding, EventContext, Handler, HandlerFuture, HandlerResult, Handlers};
pub use field::{DefaultValue, Field, OnDelete};
pub use hooks::{Committed, HookError, Hooks, Next, WriteCall, Written, WRITE_ACTIONS};
pub use model::{KeySource, ModelBinding, VersionKind, PK};
pub use registry::{Registry, RegistryError, BUILT_IN_ACTIONS};
