//! The colours a person may pick. The page draws one button per colour and the collector
//! rejects any other, so both read the palette from here.

use std::fmt;
use std::str::FromStr;

/// The palette of the reference design.
pub const DEFAULT_COLORS: [&str; 6] = ["red", "orange", "yellow", "green", "blue", "purple"];

/// An ordered set of colour names: lowercase ASCII letters, digits and `-`, starting with a
/// letter, at most 32 characters. The name doubles as the CSS colour of its button, so the
/// restriction also keeps configuration out of markup and style sheets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Palette {
    colors: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PaletteError {
    #[error("the palette is empty")]
    Empty,
    #[error(
        "colour name {0:?} is not lowercase letters, digits and '-' (1-32, starting with a letter)"
    )]
    InvalidName(String),
    #[error("colour {0:?} is listed twice")]
    Duplicate(String),
}

impl Palette {
    pub fn new<I, S>(colors: I) -> Result<Self, PaletteError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut out: Vec<String> = Vec::new();
        for color in colors {
            let color = color.into();
            if !is_valid_color_name(&color) {
                return Err(PaletteError::InvalidName(color));
            }
            if out.contains(&color) {
                return Err(PaletteError::Duplicate(color));
            }
            out.push(color);
        }
        if out.is_empty() {
            return Err(PaletteError::Empty);
        }
        Ok(Palette { colors: out })
    }

    pub fn colors(&self) -> &[String] {
        &self.colors
    }

    /// The palette's spelling of `color`, matched without regard to case or surrounding space.
    pub fn canonical(&self, color: &str) -> Option<&str> {
        let wanted = color.trim();
        self.colors
            .iter()
            .find(|c| c.eq_ignore_ascii_case(wanted))
            .map(String::as_str)
    }
}

impl Default for Palette {
    fn default() -> Self {
        Palette::new(DEFAULT_COLORS).expect("the default palette is valid")
    }
}

impl FromStr for Palette {
    type Err = PaletteError;

    /// Parses a comma-separated list, as given in `COLOR_PALETTE`.
    fn from_str(list: &str) -> Result<Self, Self::Err> {
        Palette::new(list.split(',').map(str::trim).filter(|c| !c.is_empty()))
    }
}

impl fmt::Display for Palette {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.colors.join(","))
    }
}

fn is_valid_color_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase())
        && name.len() <= 32
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_palette_is_the_reference_six() {
        assert_eq!(
            Palette::default().colors(),
            ["red", "orange", "yellow", "green", "blue", "purple"]
        );
    }

    #[test]
    fn palette_parses_from_a_comma_list_and_round_trips() {
        let palette: Palette = " teal, navy ,hot-pink".parse().unwrap();
        assert_eq!(palette.colors(), ["teal", "navy", "hot-pink"]);
        assert_eq!(palette.to_string().parse::<Palette>().unwrap(), palette);
    }

    #[test]
    fn palette_rejects_names_that_could_escape_markup() {
        for bad in ["Red", "red;background:url(x)", "\"><script>", "1red", ""] {
            assert!(Palette::new([bad]).is_err(), "{bad:?}");
        }
        assert_eq!(
            Palette::new(["red", "red"]),
            Err(PaletteError::Duplicate("red".into()))
        );
        assert_eq!(" , ".parse::<Palette>(), Err(PaletteError::Empty));
    }

    #[test]
    fn colours_match_without_case() {
        let palette = Palette::default();
        assert_eq!(palette.canonical(" Blue "), Some("blue"));
        assert_eq!(palette.canonical("magenta"), None);
    }
}
