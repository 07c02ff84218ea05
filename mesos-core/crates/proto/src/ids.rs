//! Identifier newtypes. On the wire each is `{"value": "<string>"}`.

use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! id_type {
    ($($(#[$m:meta])* $name:ident),* $(,)?) => {$(
        $(#[$m])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub struct $name {
            pub value: String,
        }
        impl $name {
            pub fn new(value: impl Into<String>) -> Self {
                Self { value: value.into() }
            }
            pub fn as_str(&self) -> &str {
                &self.value
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.value)
            }
        }
    )*};
}

id_type!(
    /// `<masterId>-<4 digit counter>`.
    FrameworkId,
    /// `<masterId>-S<n>`.
    AgentId,
    /// `<masterId>-O<n>`.
    OfferId,
    TaskId,
    ExecutorId,
    ContainerId,
    OperationId,
);

/// Mesos' rules for task, executor and framework IDs (`validateID`).
pub fn validate_id(id: &str) -> Result<(), String> {
    if id.is_empty() {
        return Err("ID must not be empty".into());
    }
    if id.len() > 255 {
        return Err("ID must not be greater than 255 characters".into());
    }
    if id == "." || id == ".." {
        return Err("'.' and '..' are reserved".into());
    }
    if id.chars().any(|c| c == '/' || c == '\\' || c.is_control()) {
        return Err(format!("'{id}' contains invalid characters"));
    }
    Ok(())
}

/// Mesos' role name rules (`roles::validate`).
pub fn validate_role(role: &str) -> Result<(), String> {
    if role == "*" {
        return Ok(());
    }
    if role.is_empty() {
        return Err("Empty role name is invalid".into());
    }
    if role.starts_with('/') || role.ends_with('/') || role.contains("//") {
        return Err(format!(
            "Role '{role}' cannot start or end with '/' or contain '//'"
        ));
    }
    for part in role.split('/') {
        if part == "." || part == ".." || part == "*" {
            return Err(format!(
                "Role '{role}' cannot have '.', '..' or '*' as a path component"
            ));
        }
        if part.starts_with('-') {
            return Err(format!(
                "Role '{role}' cannot have a component starting with '-'"
            ));
        }
        if part.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(format!("Role '{role}' cannot contain whitespace"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_serialize_as_value_objects() {
        let id = TaskId::new("web-1");
        assert_eq!(serde_json::to_string(&id).unwrap(), r#"{"value":"web-1"}"#);
        let back: TaskId = serde_json::from_str(r#"{"value":"web-1"}"#).unwrap();
        assert_eq!(back, id);
    }

    #[test]
    fn id_validation_follows_mesos() {
        assert!(validate_id("a-b_c.1").is_ok());
        assert!(validate_id("").is_err());
        assert!(validate_id("..").is_err());
        assert!(validate_id("a/b").is_err());
        assert!(validate_id("a\nb").is_err());
        assert!(validate_id(&"x".repeat(256)).is_err());
    }

    #[test]
    fn role_validation_follows_mesos() {
        for ok in ["*", "eng", "eng/web", "a.b"] {
            assert!(validate_role(ok).is_ok(), "{ok}");
        }
        for bad in ["", "/a", "a/", "a//b", "a/./b", "-a", "a b", "a/*"] {
            assert!(validate_role(bad).is_err(), "{bad}");
        }
    }
}
