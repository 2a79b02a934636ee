//! The landed files' columns as a Hive table declares them (pure), derived from the Parquet
//! schema so a field added to the event reaches the table with no hand-written DDL. JSON lines
//! hold the same fields; their times are text, as Hive's JSON SerDe reads ISO-8601 strings.

use arrow_schema::{DataType, Field};

use super::LandingFormat;
use super::parquet_columns::schema;

/// Each column's name and Hive type, in the files' order.
pub fn hive_columns(format: LandingFormat) -> Vec<(String, String)> {
    schema()
        .fields()
        .iter()
        .map(|field| (field.name().clone(), hive_type(field, format)))
        .collect()
}

fn hive_type(field: &Field, format: LandingFormat) -> String {
    match field.data_type() {
        DataType::Utf8 | DataType::LargeUtf8 => "string".to_owned(),
        DataType::Boolean => "boolean".to_owned(),
        DataType::Int32 => "int".to_owned(),
        DataType::Int64 => "bigint".to_owned(),
        DataType::Float64 => "double".to_owned(),
        DataType::Timestamp(..) => match format {
            LandingFormat::Parquet => "timestamp".to_owned(),
            LandingFormat::Json => "string".to_owned(),
        },
        DataType::Struct(fields) => {
            let members: Vec<String> = fields
                .iter()
                .map(|f| format!("{}:{}", f.name(), hive_type(f, format)))
                .collect();
            format!("struct<{}>", members.join(","))
        }
        other => unreachable!("the landed schema has no {other} column"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_declares_what_the_files_hold() {
        let parquet = hive_columns(LandingFormat::Parquet);
        let declared: Vec<String> = parquet.iter().map(|(n, t)| format!("{n} {t}")).collect();
        assert_eq!(
            declared,
            [
                "eventId string",
                "schemaVersion int",
                "timestamp timestamp",
                "userName string",
                "colorName string",
                "userAgent string",
                "browser struct<name:string,version:string,category:string,os:string,osVersion:string,vendor:string>",
                "clientTimestamp timestamp",
                "doNotTrack boolean",
                "kafkaOffset bigint",
            ]
        );
        let json = hive_columns(LandingFormat::Json);
        assert_eq!(json[2], ("timestamp".to_owned(), "string".to_owned()));
        assert_eq!(json.len(), parquet.len());
    }
}
