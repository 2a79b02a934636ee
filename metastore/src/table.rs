//! The table the landed files make, as the metastore's structs (pure): an external table over
//! the topic's landing folder, partitioned by `dt` and `hour` as its `dt=YYYY-MM-DD/hour=HH`
//! folders are, and what a table made by an older version lacks.

use crate::fields;
use crate::thrift::{Struct, Value};

/// How the landed files are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Storage {
    Parquet,
    /// One JSON object per line, read by Hive's JSON SerDe.
    JsonLines,
}

/// A column and its Hive type (`string`, `struct<name:string,...>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    pub name: String,
    pub hive_type: String,
}

/// What the pipeline's table is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableSpec {
    pub database: String,
    pub table: String,
    /// The topic's landing folder: `hdfs://namenode:8020/data/web-events/select-color` or
    /// `file:/...`.
    pub location: String,
    pub storage: Storage,
    pub columns: Vec<Column>,
}

/// The partition keys, as the landing folders name them.
pub const PARTITION_KEYS: [&str; 2] = ["dt", "hour"];

// Field ids of the metastore's structs (hive_metastore.thrift).
mod id {
    pub const TABLE_NAME: i16 = 1;
    pub const TABLE_DB: i16 = 2;
    pub const TABLE_OWNER: i16 = 3;
    pub const TABLE_CREATED: i16 = 4;
    pub const TABLE_SD: i16 = 7;
    pub const TABLE_PARTITION_KEYS: i16 = 8;
    pub const TABLE_PARAMETERS: i16 = 9;
    pub const TABLE_TYPE: i16 = 12;
    pub const SD_COLS: i16 = 1;
    pub const SD_LOCATION: i16 = 2;
    pub const PARTITION_VALUES: i16 = 1;
    pub const PARTITION_DB: i16 = 2;
    pub const PARTITION_TABLE: i16 = 3;
    pub const PARTITION_CREATED: i16 = 4;
    pub const PARTITION_SD: i16 = 6;
    pub const PARTITION_PARAMETERS: i16 = 7;
    pub const COLUMN_NAME: i16 = 1;
}

impl Storage {
    fn formats(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Storage::Parquet => (
                "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
                "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
                "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe",
            ),
            Storage::JsonLines => (
                "org.apache.hadoop.mapred.TextInputFormat",
                "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat",
                "org.apache.hadoop.hive.serde2.JsonSerDe",
            ),
        }
    }
}

fn field_schema(name: &str, hive_type: &str) -> Value {
    Value::Struct(fields! {
        1 => Value::string(name),
        2 => Value::string(hive_type),
    })
}

fn list_of(items: Vec<Value>) -> Value {
    Value::List { element: 12, items }
}

impl TableSpec {
    /// The database, for `create_database` when it is missing.
    pub fn database_struct(&self) -> Struct {
        fields! {
            1 => Value::string(&self.database),
            2 => Value::string("Web events landed by the pipeline"),
            4 => Value::string_map([]),
        }
    }

    fn storage_descriptor(&self, location: &str) -> Struct {
        let (input, output, serde) = self.storage.formats();
        let columns = self
            .columns
            .iter()
            .map(|c| field_schema(&c.name, &c.hive_type))
            .collect();
        fields! {
            1 => list_of(columns),
            2 => Value::string(location),
            3 => Value::string(input),
            4 => Value::string(output),
            5 => Value::Bool(false),
            6 => Value::I32(-1),
            7 => Value::Struct(fields! {
                2 => Value::string(serde),
                3 => Value::string_map([("serialization.format", "1")]),
            }),
            8 => Value::strings([]),
            9 => list_of(Vec::new()),
            10 => Value::string_map([]),
        }
    }

    /// The table, for `create_table`: external, so dropping it never deletes landed files.
    pub fn table_struct(&self, now_seconds: i32) -> Struct {
        let keys = PARTITION_KEYS
            .iter()
            .map(|key| field_schema(key, "string"))
            .collect();
        fields! {
            id::TABLE_NAME => Value::string(&self.table),
            id::TABLE_DB => Value::string(&self.database),
            id::TABLE_OWNER => Value::string("web-events"),
            id::TABLE_CREATED => Value::I32(now_seconds),
            5 => Value::I32(0),
            6 => Value::I32(0),
            id::TABLE_SD => Value::Struct(self.storage_descriptor(&self.location)),
            id::TABLE_PARTITION_KEYS => list_of(keys),
            id::TABLE_PARAMETERS => Value::string_map([
                ("EXTERNAL", "TRUE"),
                ("comment", "Registered by hdfs-consumer as hours land"),
            ]),
            id::TABLE_TYPE => Value::string("EXTERNAL_TABLE"),
        }
    }

    /// The partition of an hour folder (`dt=2026-12-01/hour=05`), for `add_partitions`; `None`
    /// for a name that is not one.
    pub fn partition_struct(&self, name: &str, now_seconds: i32) -> Option<Struct> {
        let values = partition_values(name)?;
        let location = format!("{}/{name}", self.location.trim_end_matches('/'));
        Some(fields! {
            id::PARTITION_VALUES => Value::strings(values.iter().map(String::as_str)),
            id::PARTITION_DB => Value::string(&self.database),
            id::PARTITION_TABLE => Value::string(&self.table),
            id::PARTITION_CREATED => Value::I32(now_seconds),
            5 => Value::I32(0),
            id::PARTITION_SD => Value::Struct(self.storage_descriptor(&location)),
            id::PARTITION_PARAMETERS => Value::string_map([]),
        })
    }

    /// The columns `table` (as the metastore gave it) lacks, in this spec's order. Hive keeps
    /// names in lower case, so they are compared without case.
    pub fn missing_columns(&self, table: &Struct) -> Vec<Column> {
        let present: Vec<String> = table_columns(table)
            .iter()
            .map(|name| name.to_lowercase())
            .collect();
        self.columns
            .iter()
            .filter(|c| !present.contains(&c.name.to_lowercase()))
            .cloned()
            .collect()
    }

    /// Where `table` (as the metastore gave it) is located.
    pub fn location_of(table: &Struct) -> Option<&str> {
        table
            .get(&id::TABLE_SD)?
            .as_struct()?
            .get(&id::SD_LOCATION)?
            .as_str()
    }
}

/// The names of a table's columns.
pub fn table_columns(table: &Struct) -> Vec<String> {
    let columns = table
        .get(&id::TABLE_SD)
        .and_then(Value::as_struct)
        .and_then(|sd| sd.get(&id::SD_COLS))
        .and_then(Value::items)
        .unwrap_or_default();
    columns
        .iter()
        .filter_map(|c| c.as_struct()?.get(&id::COLUMN_NAME)?.as_str())
        .map(str::to_owned)
        .collect()
}

/// `table` with `added` appended to its columns, everything else as it was (other engines'
/// parameters included), for `alter_table`.
pub fn with_columns(mut table: Struct, added: &[Column]) -> Struct {
    let Some(sd) = table.get_mut(&id::TABLE_SD).and_then(Value::as_struct_mut) else {
        return table;
    };
    let columns = sd.entry(id::SD_COLS).or_insert_with(|| list_of(Vec::new()));
    if let Value::List { items, .. } = columns {
        items.extend(added.iter().map(|c| field_schema(&c.name, &c.hive_type)));
    }
    table
}

/// The values of a partition name: `dt=2026-12-01/hour=05` is `["2026-12-01", "05"]`.
pub fn partition_values(name: &str) -> Option<Vec<String>> {
    let parts: Vec<&str> = name.trim_matches('/').split('/').collect();
    if parts.len() != PARTITION_KEYS.len() {
        return None;
    }
    parts
        .iter()
        .zip(PARTITION_KEYS)
        .map(|(part, key)| {
            let value = part.strip_prefix(key)?.strip_prefix('=')?;
            (!value.is_empty()).then(|| value.to_owned())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(columns: &[(&str, &str)]) -> TableSpec {
        TableSpec {
            database: "default".into(),
            table: "select_color".into(),
            location: "hdfs://nn:8020/data/select-color/".into(),
            storage: Storage::Parquet,
            columns: columns
                .iter()
                .map(|(name, hive_type)| Column {
                    name: (*name).into(),
                    hive_type: (*hive_type).into(),
                })
                .collect(),
        }
    }

    #[test]
    fn a_partition_is_its_folder_under_the_table() {
        let spec = spec(&[("eventId", "string")]);
        let partition = spec.partition_struct("dt=2026-12-01/hour=05", 7).unwrap();
        assert_eq!(
            partition[&id::PARTITION_VALUES],
            Value::strings(["2026-12-01", "05"])
        );
        let sd = partition[&id::PARTITION_SD].as_struct().unwrap();
        assert_eq!(
            sd[&id::SD_LOCATION].as_str(),
            Some("hdfs://nn:8020/data/select-color/dt=2026-12-01/hour=05")
        );
        assert_eq!(spec.partition_struct("dt=2026-12-01", 7), None);
        assert_eq!(spec.partition_struct("hour=05/dt=2026-12-01", 7), None);
        assert_eq!(partition_values("dt=/hour=05"), None);
    }

    #[test]
    fn a_table_made_before_a_field_lacks_only_that_field_and_gains_it_at_the_end() {
        let old = spec(&[("eventId", "string"), ("colorName", "string")]);
        let mut made = old.table_struct(1);
        // Hive lower-cases names, and another engine added a parameter of its own.
        let sd = made
            .get_mut(&id::TABLE_SD)
            .unwrap()
            .as_struct_mut()
            .unwrap();
        sd.insert(
            id::SD_COLS,
            list_of(vec![
                field_schema("eventid", "string"),
                field_schema("colorname", "string"),
            ]),
        );
        made.insert(
            id::TABLE_PARAMETERS,
            Value::string_map([("spark.sql.create.version", "4.0.1")]),
        );
        let new = spec(&[
            ("eventId", "string"),
            ("colorName", "string"),
            ("doNotTrack", "boolean"),
        ]);
        let missing = new.missing_columns(&made);
        assert_eq!(missing, vec![new.columns[2].clone()]);
        let altered = with_columns(made.clone(), &missing);
        assert_eq!(
            table_columns(&altered),
            ["eventid", "colorname", "doNotTrack"]
        );
        assert_eq!(
            altered[&id::TABLE_PARAMETERS],
            made[&id::TABLE_PARAMETERS],
            "other engines' parameters are kept"
        );
        assert!(new.missing_columns(&altered).is_empty());
    }
}
