//! Column shapes the migrations share. Changing one changes every migration that uses it:
//! only add new helpers, never alter an existing one.

use sea_orm_migration::prelude::*;

/// A timestamp with time zone, required.
pub fn ts(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col)
        .timestamp_with_time_zone()
        .not_null()
        .to_owned()
}

/// A timestamp with time zone, optional.
pub fn ts_null(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col)
        .timestamp_with_time_zone()
        .null()
        .to_owned()
}

/// A UUID-text primary key.
pub fn id(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col)
        .string_len(36)
        .not_null()
        .primary_key()
        .to_owned()
}
