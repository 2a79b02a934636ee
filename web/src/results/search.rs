//! What the results page asks the search cluster, and what the answers become. The requests
//! are fixed: the only value a person supplies is a list of validated event ids. Every function
//! here is pure, so each answer shape (empty index, unknown colours, an error) is tested on
//! literal JSON.

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use common::Palette;
use serde::Serialize;
use serde_json::{Value, json};
use uuid::Uuid;

/// Minutes the "clicks over time" chart covers.
pub const MINUTES_SHOWN: i64 = 60;
/// Browser and OS pairs shown, most clicks first (as Kibana's table: 20 browsers × 20 systems).
const BROWSERS_ASKED: u32 = 20;
/// Colours asked for: the palette's and any others found in the index.
const COLOURS_ASKED: u32 = 50;
/// The fill of a colour that is not in the palette (data written by another producer).
pub const UNKNOWN_COLOUR_FILL: &str = "gray";

/// The three views of the Kibana dashboard in one request: clicks per colour, per minute (per
/// colour) since `since`, per browser and OS.
pub fn overview_query(since: DateTime<Utc>) -> Value {
    json!({
        "size": 0,
        "track_total_hits": true,
        "aggs": {
            "colours": { "terms": { "field": "colorName", "size": COLOURS_ASKED } },
            "recent": {
                "filter": { "range": { "timestamp": { "gte": since.to_rfc3339_opts(chrono::SecondsFormat::Millis, true) } } },
                "aggs": {
                    "per_minute": {
                        "date_histogram": { "field": "timestamp", "fixed_interval": "1m", "min_doc_count": 1 },
                        "aggs": { "colours": { "terms": { "field": "colorName", "size": COLOURS_ASKED } } }
                    }
                }
            },
            "browsers": {
                "terms": { "field": "browser.name", "size": BROWSERS_ASKED },
                "aggs": { "os": { "terms": { "field": "browser.os", "size": BROWSERS_ASKED } } }
            }
        }
    })
}

/// The documents of a person's own clicks, by id (the event id is the document id).
pub fn own_clicks_query(ids: &[Uuid]) -> Value {
    let values: Vec<String> = ids.iter().map(Uuid::to_string).collect();
    json!({
        "size": ids.len(),
        "query": { "ids": { "values": values } },
        "_source": ["eventId", "userName", "colorName", "timestamp", "browser.name", "browser.os"]
    })
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Overview {
    /// Clicks in the index.
    pub total: u64,
    /// Every palette colour in palette order (zero when never clicked), then colours found in
    /// the index that the palette does not have.
    pub colours: Vec<ColourCount>,
    /// One entry per minute of the last hour, oldest first, empty minutes included.
    pub per_minute: Vec<MinuteCount>,
    /// Browser and OS pairs, most clicks first.
    pub browsers: Vec<BrowserCount>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ColourCount {
    pub colour: String,
    pub count: u64,
    /// The colour the bar is drawn in: the name itself for a palette colour (palette names are
    /// CSS colour names), gray for any other.
    pub fill: String,
    pub in_palette: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MinuteCount {
    pub minute: DateTime<Utc>,
    pub total: u64,
    /// Clicks per colour in that minute, in the order of [`Overview::colours`].
    pub colours: Vec<(String, u64)>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BrowserCount {
    pub browser: String,
    pub os: String,
    pub count: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OwnClick {
    pub event_id: Uuid,
    pub user_name: String,
    pub colour: String,
    pub timestamp: String,
    pub browser: String,
    pub os: String,
}

/// The first minute of the chart ending at `now`: the chart shows [`MINUTES_SHOWN`] whole
/// minutes, the current one last.
pub fn chart_start(now: DateTime<Utc>) -> DateTime<Utc> {
    minute_of(now) - TimeDelta::minutes(MINUTES_SHOWN - 1)
}

fn minute_of(time: DateTime<Utc>) -> DateTime<Utc> {
    time.duration_trunc(TimeDelta::minutes(1))
        .expect("a minute divides any time")
}

/// Why an answer cannot be shown, in words for the page: the cluster's own reason when it gave
/// one.
pub fn answer_error(answer: &Value) -> Option<String> {
    let error = answer.get("error")?;
    let reason = error
        .get("root_cause")
        .and_then(|causes| causes.get(0))
        .and_then(|cause| cause.get("reason"))
        .or_else(|| error.get("reason"))
        .and_then(Value::as_str)
        .map(str::to_owned)
        .unwrap_or_else(|| error.to_string());
    Some(format!("the search cluster refused the query: {reason}"))
}

/// The overview answer as the page's view, or why it cannot be shown.
pub fn overview_view(
    answer: &Value,
    palette: &Palette,
    now: DateTime<Utc>,
) -> Result<Overview, String> {
    if let Some(error) = answer_error(answer) {
        return Err(error);
    }
    let aggregations = answer
        .get("aggregations")
        .ok_or("the search answer has no aggregations")?;
    let total = match &answer["hits"]["total"] {
        Value::Object(total) => total.get("value").and_then(Value::as_u64),
        other => other.as_u64(),
    }
    .ok_or("the search answer has no hit count")?;

    let found = buckets(&aggregations["colours"])?;
    let mut colours: Vec<ColourCount> = palette
        .colors()
        .iter()
        .map(|colour| ColourCount {
            colour: colour.clone(),
            count: 0,
            fill: colour.clone(),
            in_palette: true,
        })
        .collect();
    for (key, count) in found {
        match colours.iter_mut().find(|c| c.in_palette && c.colour == key) {
            Some(known) => known.count = count,
            None => colours.push(ColourCount {
                colour: key,
                count,
                fill: UNKNOWN_COLOUR_FILL.to_owned(),
                in_palette: false,
            }),
        }
    }

    let start = chart_start(now);
    let mut per_minute: Vec<MinuteCount> = (0..MINUTES_SHOWN)
        .map(|n| MinuteCount {
            minute: start + TimeDelta::minutes(n),
            total: 0,
            colours: colours.iter().map(|c| (c.colour.clone(), 0)).collect(),
        })
        .collect();
    let minutes = aggregations["recent"]["per_minute"]["buckets"]
        .as_array()
        .ok_or("the search answer has no per-minute buckets")?;
    for bucket in minutes {
        let key = bucket["key"]
            .as_i64()
            .and_then(DateTime::<Utc>::from_timestamp_millis)
            .ok_or("a per-minute bucket has no time")?;
        let index = (minute_of(key) - start).num_minutes();
        let Some(minute) = usize::try_from(index)
            .ok()
            .and_then(|i| per_minute.get_mut(i))
        else {
            continue; // outside the chart: a clock ahead of this server's, or just gone by
        };
        for (colour, count) in buckets(&bucket["colours"])? {
            minute.total += count;
            match minute.colours.iter_mut().find(|(c, _)| *c == colour) {
                Some(slot) => slot.1 += count,
                // A colour seen only in the last hour but beyond the overall top 50.
                None => minute.colours.push((colour, count)),
            }
        }
    }

    let mut browsers = Vec::new();
    for browser in aggregations["browsers"]["buckets"]
        .as_array()
        .ok_or("the search answer has no browser buckets")?
    {
        let name = key_of(browser)?;
        for (os, count) in buckets(&browser["os"])? {
            browsers.push(BrowserCount {
                browser: name.clone(),
                os,
                count,
            });
        }
    }
    browsers.sort_by(|a, b| {
        b.count
            .cmp(&a.count)
            .then_with(|| (&a.browser, &a.os).cmp(&(&b.browser, &b.os)))
    });

    Ok(Overview {
        total,
        colours,
        per_minute,
        browsers,
    })
}

/// The own-clicks answer: the documents found, in the order of `ids` (those not indexed yet
/// are left out).
pub fn own_clicks_view(answer: &Value, ids: &[Uuid]) -> Result<Vec<OwnClick>, String> {
    if let Some(error) = answer_error(answer) {
        return Err(error);
    }
    let hits = answer["hits"]["hits"]
        .as_array()
        .ok_or("the search answer has no hits")?;
    let mut found = Vec::new();
    for hit in hits {
        let source = &hit["_source"];
        let text = |value: &Value| value.as_str().unwrap_or_default().to_owned();
        let Some(event_id) = source["eventId"]
            .as_str()
            .and_then(|id| Uuid::parse_str(id).ok())
        else {
            continue;
        };
        found.push(OwnClick {
            event_id,
            user_name: text(&source["userName"]),
            colour: text(&source["colorName"]),
            timestamp: text(&source["timestamp"]),
            browser: text(&source["browser"]["name"]),
            os: text(&source["browser"]["os"]),
        });
    }
    found.retain(|click| ids.contains(&click.event_id));
    found.sort_by_key(|click| ids.iter().position(|id| *id == click.event_id));
    Ok(found)
}

/// A terms aggregation's buckets as (key, count).
fn buckets(aggregation: &Value) -> Result<Vec<(String, u64)>, String> {
    aggregation["buckets"]
        .as_array()
        .ok_or_else(|| "the search answer lacks a terms aggregation".to_owned())?
        .iter()
        .map(|bucket| {
            let count = bucket["doc_count"]
                .as_u64()
                .ok_or("a bucket has no doc_count")?;
            Ok((key_of(bucket)?, count))
        })
        .collect()
}

fn key_of(bucket: &Value) -> Result<String, String> {
    match &bucket["key"] {
        Value::String(key) => Ok(key.clone()),
        Value::Null => Err("a bucket has no key".to_owned()),
        other => Ok(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        "2026-12-03T10:30:20Z".parse().unwrap()
    }

    fn answer(colours: Value, minutes: Value, browsers: Value, total: u64) -> Value {
        json!({
            "hits": { "total": { "value": total, "relation": "eq" }, "hits": [] },
            "aggregations": {
                "colours": { "buckets": colours },
                "recent": { "doc_count": 0, "per_minute": { "buckets": minutes } },
                "browsers": { "buckets": browsers }
            }
        })
    }

    fn millis(time: &str) -> i64 {
        time.parse::<DateTime<Utc>>().unwrap().timestamp_millis()
    }

    #[test]
    fn an_empty_index_shows_every_palette_colour_at_zero_and_an_hour_of_empty_minutes() {
        let view = overview_view(
            &answer(json!([]), json!([]), json!([]), 0),
            &Palette::default(),
            now(),
        )
        .unwrap();
        assert_eq!(view.total, 0);
        let names: Vec<&str> = view.colours.iter().map(|c| c.colour.as_str()).collect();
        assert_eq!(
            names,
            ["red", "orange", "yellow", "green", "blue", "purple"]
        );
        assert!(
            view.colours
                .iter()
                .all(|c| c.count == 0 && c.in_palette && c.fill == c.colour)
        );
        assert_eq!(view.per_minute.len(), 60);
        assert_eq!(
            view.per_minute[0].minute,
            "2026-12-03T09:31:00Z".parse::<DateTime<Utc>>().unwrap()
        );
        assert_eq!(
            view.per_minute[59].minute,
            "2026-12-03T10:30:00Z".parse::<DateTime<Utc>>().unwrap()
        );
        assert!(view.per_minute.iter().all(|m| m.total == 0));
        assert!(view.browsers.is_empty());
    }

    #[test]
    fn one_colour_is_counted_in_its_bar_its_minute_and_its_browser() {
        let view = overview_view(
            &answer(
                json!([{ "key": "green", "doc_count": 3 }]),
                json!([{
                    "key": millis("2026-12-03T10:29:00Z"),
                    "key_as_string": "2026-12-03T10:29:00.000Z",
                    "doc_count": 3,
                    "colours": { "buckets": [{ "key": "green", "doc_count": 3 }] }
                }]),
                json!([{ "key": "Chrome", "doc_count": 3,
                         "os": { "buckets": [{ "key": "Linux", "doc_count": 2 }, { "key": "Mac OSX", "doc_count": 1 }] } }]),
                3,
            ),
            &Palette::default(),
            now(),
        )
        .unwrap();
        assert_eq!(view.total, 3);
        let green = view.colours.iter().find(|c| c.colour == "green").unwrap();
        assert_eq!(green.count, 3);
        assert_eq!(view.colours.iter().map(|c| c.count).sum::<u64>(), 3);
        assert_eq!(view.per_minute[58].total, 3);
        assert!(view.per_minute[58].colours.contains(&("green".into(), 3)));
        assert_eq!(view.per_minute.iter().map(|m| m.total).sum::<u64>(), 3);
        assert_eq!(
            view.browsers,
            [
                BrowserCount {
                    browser: "Chrome".into(),
                    os: "Linux".into(),
                    count: 2
                },
                BrowserCount {
                    browser: "Chrome".into(),
                    os: "Mac OSX".into(),
                    count: 1
                },
            ]
        );
    }

    #[test]
    fn colours_outside_the_palette_are_shown_after_it_in_gray() {
        let view = overview_view(
            &answer(
                json!([{ "key": "teal", "doc_count": 5 }, { "key": "red", "doc_count": 1 }]),
                json!([]),
                json!([]),
                6,
            ),
            &Palette::new(["red", "blue"]).unwrap(),
            now(),
        )
        .unwrap();
        assert_eq!(
            view.colours,
            [
                ColourCount {
                    colour: "red".into(),
                    count: 1,
                    fill: "red".into(),
                    in_palette: true
                },
                ColourCount {
                    colour: "blue".into(),
                    count: 0,
                    fill: "blue".into(),
                    in_palette: true
                },
                ColourCount {
                    colour: "teal".into(),
                    count: 5,
                    fill: "gray".into(),
                    in_palette: false
                },
            ]
        );
    }

    #[test]
    fn minutes_outside_the_hour_are_left_out() {
        let bucket = |time: &str| {
            json!({ "key": millis(time), "doc_count": 1,
                    "colours": { "buckets": [{ "key": "red", "doc_count": 1 }] } })
        };
        let view = overview_view(
            &answer(
                json!([{ "key": "red", "doc_count": 3 }]),
                json!([
                    bucket("2026-12-03T09:30:00Z"),
                    bucket("2026-12-03T09:31:00Z"),
                    bucket("2026-12-03T10:31:00Z")
                ]),
                json!([]),
                3,
            ),
            &Palette::default(),
            now(),
        )
        .unwrap();
        assert_eq!(view.per_minute.iter().map(|m| m.total).sum::<u64>(), 1);
        assert_eq!(view.per_minute[0].total, 1);
    }

    #[test]
    fn an_error_answer_says_why_in_the_clusters_words() {
        let refused = json!({
            "error": {
                "root_cause": [{ "type": "security_exception", "reason": "action [indices:data/read/search] is unauthorized" }],
                "type": "security_exception",
                "reason": "action [indices:data/read/search] is unauthorized for user [web]"
            },
            "status": 403
        });
        let why = overview_view(&refused, &Palette::default(), now()).unwrap_err();
        assert_eq!(
            why,
            "the search cluster refused the query: action [indices:data/read/search] is unauthorized"
        );
        assert!(own_clicks_view(&refused, &[]).is_err());
        let bare = json!({ "error": "no handler found", "status": 400 });
        assert!(
            overview_view(&bare, &Palette::default(), now())
                .unwrap_err()
                .contains("no handler found")
        );
    }

    #[test]
    fn an_answer_without_aggregations_is_an_error_not_an_empty_chart() {
        let why = overview_view(
            &json!({ "hits": { "total": { "value": 0 } } }),
            &Palette::default(),
            now(),
        )
        .unwrap_err();
        assert!(why.contains("no aggregations"), "{why}");
    }

    #[test]
    fn own_clicks_come_in_the_order_asked_and_only_those_asked() {
        let (first, second, stranger) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let hit = |id: Uuid, colour: &str| {
            json!({ "_id": id.to_string(), "_source": {
                "eventId": id.to_string(), "userName": "민수", "colorName": colour,
                "timestamp": "2026-12-03T10:29:59.123Z",
                "browser": { "name": "Chrome", "os": "Linux" } } })
        };
        let answer = json!({ "hits": { "total": { "value": 3 }, "hits": [
            hit(second, "blue"), hit(stranger, "red"), hit(first, "green")
        ] } });
        let clicks = own_clicks_view(&answer, &[first, second]).unwrap();
        let ids: Vec<Uuid> = clicks.iter().map(|c| c.event_id).collect();
        assert_eq!(ids, [first, second]);
        assert_eq!(clicks[0].colour, "green");
        assert_eq!(clicks[0].user_name, "민수");
        assert_eq!(clicks[1].browser, "Chrome");
    }

    #[test]
    fn the_queries_carry_no_input_but_the_ids() {
        let id = Uuid::now_v7();
        let query = own_clicks_query(&[id]);
        assert_eq!(query["query"]["ids"]["values"], json!([id.to_string()]));
        assert_eq!(query["size"], 1);
        let overview = overview_query(chart_start(now()));
        assert_eq!(
            overview["aggs"]["recent"]["filter"]["range"]["timestamp"]["gte"],
            "2026-12-03T09:31:00.000Z"
        );
    }
}
