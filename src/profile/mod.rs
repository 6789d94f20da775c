//! Profiles: which tags change and how, written in TOML. Built-in profiles are embedded from
//! `assets/profiles/`; users can pass their own file. Mistakes are reported with file and line.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use toml::Spanned;

use crate::dicom::{Tag, VR, dict};

pub mod action;
pub mod annex_e;

pub use action::{Action, RuleKind};

/// Built-in profiles: (name, TOML text).
const BUILTIN: &[(&str, &str)] = &[
    ("seed", include_str!("../../assets/profiles/seed.toml")),
    ("basic", include_str!("../../assets/profiles/basic.toml")),
];

pub const DEFAULT_PROFILE: &str = "seed";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub tag: Tag,
    pub action: Action,
}

/// What an XML rule matches: an element's text, or an attribute's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum XmlTarget {
    Element(String),
    Attribute(String),
}

/// A rule for XML sidecars. Names are local names (any prefix); `namespace` restricts a
/// rule to one namespace URI; `under` restricts it to the inside of an element with that
/// local name (for attributes: the element carrying it, or any ancestor).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XmlRule {
    pub target: XmlTarget,
    pub under: Option<String>,
    pub namespace: Option<String>,
    pub ignore_case: bool,
    pub action: Action,
}

impl XmlRule {
    /// Does a name from the document equal a name in the rule?
    #[must_use]
    pub fn name_matches(&self, rule_name: &str, doc_name: &str) -> bool {
        if self.ignore_case {
            rule_name.eq_ignore_ascii_case(doc_name)
        } else {
            rule_name == doc_name
        }
    }
}

/// A loaded, checked profile. Rules are looked up by tag on the hot path, so they are kept
/// sorted for binary search.
#[derive(Debug, Clone)]
pub struct Profile {
    pub name: String,
    pub description: String,
    /// `builtin:seed` or the file's path.
    pub source: String,
    rules: Vec<Rule>,
    /// Rules for XML sidecars, in the order written (the first match wins).
    pub xml: Vec<XmlRule>,
    pub segmentation: Segmentation,
    /// Whether every DICOM free-text value no rule covers is cleaned of the patients'
    /// identifiers (`[clean] dicom`, on unless a profile switches it off).
    pub clean_dicom: bool,
    /// The Basic Profile of PS3.15 Annex E under the other rules, when the profile asks.
    pub annex_e: Option<annex_e::AnnexE>,
    /// The TOML text the profile was read from, whole (the output's manifest records it).
    pub text: String,
    /// The `--value NAME=TEXT` overrides given on top of the text.
    pub overrides: Vec<(String, String)>,
    /// The `--option NAME` options given on top of the text (see [`Profile::with_options`]).
    pub options: Vec<String>,
    /// The range a patient's date offset is drawn from, in days (`[dates] shift-days`).
    pub shift_range: (i32, i32),
    /// What the Modified Dates option does to the birth date (`[dates] birth-date`).
    pub birth_date: BirthDate,
}

/// Which per-slice mask series get their tags repaired (new series and instance UIDs,
/// `InstanceNumber` in slice order, a free `SeriesNumber`). Each can be switched off in review.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Repair {
    /// Only series whose tags are broken (shared or copied series UID, duplicate instance
    /// UIDs, unusable instance numbers): what is fine stays as it is.
    #[default]
    Flagged,
    All,
    None,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Segmentation {
    #[serde(default)]
    pub repair: Repair,
}

#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    #[error("{file}:{line}:{column}: {message}")]
    Invalid {
        file: String,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{file}: {message}")]
    Unreadable { file: String, message: String },
    #[error("unknown profile '{name}': no such file, and not a built-in profile ({builtins})")]
    Unknown { name: String, builtins: String },
    #[error("--value {0}: no such value in the profile (it has: {1})")]
    UnknownValue(String, String),
    #[error("--option {0}: no such option (options: {1})")]
    UnknownOption(String, String),
    #[error(
        "--option {0}: profile {1} does not use the Basic Profile's table, so only retain-longitudinal-modified-dates applies to it"
    )]
    OptionNeedsTable(String, String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProfileFile {
    profile: ProfileMeta,
    #[serde(default)]
    values: BTreeMap<String, String>,
    #[serde(default)]
    segmentation: Segmentation,
    #[serde(default)]
    clean: CleanSpec,
    annex_e: Option<AnnexESpec>,
    #[serde(default)]
    dates: DatesSpec,
    #[serde(default)]
    dicom: Vec<RuleSpec>,
    #[serde(default)]
    xml: Vec<XmlRuleSpec>,
}

/// `[clean]`: what is searched for the patients' identifiers besides the rules.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CleanSpec {
    #[serde(default = "yes")]
    dicom: bool,
}

impl Default for CleanSpec {
    fn default() -> Self {
        CleanSpec { dicom: true }
    }
}

fn yes() -> bool {
    true
}

/// `[dates]`: how `shift` moves a patient's dates.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct DatesSpec {
    /// The range of the patient's offset in days, both ends included: `[-3650, -365]`.
    #[serde(default = "default_shift")]
    shift_days: Spanned<[i32; 2]>,
    /// What the Modified Dates option does to the birth date: `shift` (with the other dates)
    /// or `keep-year`.
    #[serde(default)]
    birth_date: BirthDate,
}

#[derive(Deserialize, Default, Clone, Copy, PartialEq, Eq, Debug)]
#[serde(rename_all = "kebab-case")]
pub enum BirthDate {
    #[default]
    Shift,
    KeepYear,
}

impl Default for DatesSpec {
    fn default() -> Self {
        DatesSpec {
            shift_days: Spanned::new(0..0, default_shift_days()),
            birth_date: BirthDate::Shift,
        }
    }
}

fn default_shift_days() -> [i32; 2] {
    let (a, b) = crate::values::shift::DEFAULT_RANGE;
    [a, b]
}

fn default_shift() -> Spanned<[i32; 2]> {
    Spanned::new(0..0, default_shift_days())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AnnexESpec {
    #[serde(default)]
    options: Vec<annex_e::AnnexOption>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct XmlRuleSpec {
    element: Option<Spanned<String>>,
    attribute: Option<Spanned<String>>,
    under: Option<String>,
    namespace: Option<String>,
    #[serde(default)]
    ignore_case: bool,
    action: Option<Spanned<ActionName>>,
    replace: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProfileMeta {
    name: String,
    #[serde(default)]
    description: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleSpec {
    tag: Spanned<String>,
    action: Option<Spanned<ActionName>>,
    replace: Option<Spanned<String>>,
}

#[derive(Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
enum ActionName {
    Code,
    KeepYear,
    Shift,
    Replace,
    Empty,
    Remove,
    Keep,
    Dummy,
    Clean,
    Uid,
}

/// Line and column (1-based) of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rfind('\n').map_or(before.len() + 1, |i| before.len() - i);
    (line, column)
}

impl Profile {
    /// A built-in profile by name, or a profile file by path. `None` gives the default.
    ///
    /// # Errors
    ///
    /// `ProfileError` when no built-in has that name and the file cannot be read, or the profile is
    /// not valid.
    pub fn resolve(arg: Option<&str>, values: &[(String, String)]) -> Result<Profile, ProfileError> {
        let arg = arg.unwrap_or(DEFAULT_PROFILE);
        if let Some((name, text)) = BUILTIN.iter().find(|(n, _)| *n == arg) {
            return Profile::parse(text, &format!("builtin:{name}"), values);
        }
        let path = Path::new(arg);
        if path.exists() {
            let text = std::fs::read_to_string(path).map_err(|e| ProfileError::Unreadable {
                file: arg.to_string(),
                message: e.to_string(),
            })?;
            return Profile::parse(&text, arg, values);
        }
        Err(ProfileError::Unknown {
            name: arg.to_string(),
            builtins: builtin_names().join(", "),
        })
    }

    /// Parses and checks a profile. `values` override the profile's `[values]`.
    ///
    /// # Errors
    ///
    /// `ProfileError` when the text is not a valid profile.
    pub fn parse(text: &str, file: &str, overrides: &[(String, String)]) -> Result<Profile, ProfileError> {
        let err_at = |offset: usize, message: String| {
            let (line, column) = line_col(text, offset);
            ProfileError::Invalid {
                file: file.to_string(),
                line,
                column,
                message,
            }
        };
        let pf: ProfileFile = toml::from_str(text).map_err(|e| {
            let offset = e.span().map_or(0, |s| s.start);
            err_at(offset, e.message().trim().to_string())
        })?;

        let mut values = pf.values;
        for (k, v) in overrides {
            if !values.contains_key(k) {
                return Err(ProfileError::UnknownValue(
                    k.clone(),
                    values.keys().cloned().collect::<Vec<_>>().join(", "),
                ));
            }
            values.insert(k.clone(), v.clone());
        }

        let [lo, hi] = *pf.dates.shift_days.get_ref();
        let max = crate::key::MAX_DATE_OFFSET;
        if lo.abs() > max || hi.abs() > max || (lo == 0 && hi == 0) {
            return Err(err_at(
                pf.dates.shift_days.span().start,
                format!("shift-days must lie within -{max}..{max} days and not be [0, 0]"),
            ));
        }
        let rules = dicom_rules(pf.dicom, text, &values, &err_at)?;
        let xml = xml_rules(pf.xml, &values, &err_at)?;
        let mut p = Profile {
            name: pf.profile.name,
            description: pf.profile.description,
            source: file.to_string(),
            rules,
            xml,
            segmentation: pf.segmentation,
            clean_dicom: pf.clean.dicom,
            annex_e: pf
                .annex_e
                .map(|a| annex_e::AnnexE::new(a.options.into_iter().collect())),
            text: text.to_string(),
            overrides: overrides.to_vec(),
            options: Vec::new(),
            shift_range: (lo, hi),
            birth_date: pf.dates.birth_date,
        };
        if p.annex_e.as_ref().is_some_and(|a| {
            a.options
                .contains(&annex_e::AnnexOption::RetainLongitudinalModifiedDates)
        }) {
            p.shift_keep_year();
        }
        Ok(p)
    }

    /// Every `keep-year` line (DICOM and XML) becomes `shift`, unless `[dates] birth-date =
    /// "keep-year"`: then the birth date keeps its year (a line is added where the table would
    /// shift it) and so do the XML's keep-year lines, which are birth dates.
    fn shift_keep_year(&mut self) {
        let birth = crate::dicom::tags::PATIENT_BIRTH_DATE;
        let keep_birth = self.birth_date == BirthDate::KeepYear;
        for r in &mut self.rules {
            if r.action == Action::KeepYear && !(keep_birth && r.tag == birth) {
                r.action = Action::Shift;
            }
        }
        if !keep_birth {
            for r in &mut self.xml {
                if r.action == Action::KeepYear {
                    r.action = Action::Shift;
                }
            }
        } else if self.rule(birth).is_none() && self.annex_e.is_some() {
            self.rules.push(Rule {
                tag: birth,
                action: Action::KeepYear,
            });
            self.rules.sort_by_key(|r| r.tag);
        }
    }

    /// The profile with options of PS3.15 E.3 added by name (`--option NAME`, as in
    /// `[annex_e] options`). `retain-longitudinal-modified-dates` works on any profile: every
    /// date the profile would keep the year of (its `keep-year` lines, DICOM and XML) and, with
    /// the Basic Profile's table, every date and datetime the table lists and the birth date
    /// (unless a line of the profile names it) are shifted by the patient's offset; times
    /// stay. The other options change the table, so they need a profile that uses it.
    ///
    /// # Errors
    ///
    /// `ProfileError` when a name is not an option of PS3.15 E.3 that dams knows.
    pub fn with_options(mut self, names: &[String]) -> Result<Profile, ProfileError> {
        let mut added = std::collections::BTreeSet::new();
        for name in names {
            let option: annex_e::AnnexOption = serde::Deserialize::deserialize(serde::de::value::StrDeserializer::<
                serde::de::value::Error,
            >::new(name))
            .map_err(|_| ProfileError::UnknownOption(name.clone(), annex_e::AnnexOption::names().join(", ")))?;
            if self.annex_e.is_none() && option != annex_e::AnnexOption::RetainLongitudinalModifiedDates {
                return Err(ProfileError::OptionNeedsTable(name.clone(), self.name.clone()));
            }
            added.insert(option);
            let already = self.annex_e.as_ref().is_some_and(|a| a.options.contains(&option));
            if !self.options.contains(name) && !already {
                self.options.push(name.clone());
            }
        }
        // One order, whatever the order given: the manifest's fingerprint depends on it.
        self.options.sort();
        if added.is_empty() {
            return Ok(self);
        }
        if let Some(a) = &self.annex_e {
            let mut all = a.options.clone();
            all.extend(added.iter().copied());
            self.annex_e = Some(annex_e::AnnexE::new(all));
        }
        if added.contains(&annex_e::AnnexOption::RetainLongitudinalModifiedDates) {
            self.shift_keep_year();
        }
        Ok(self)
    }

    /// Whether the dates of the patient's studies are moved by their offset (`StudyDate` is
    /// shifted): then every date in the patient's XML moves too, and the original dates are
    /// searched for in text like identifiers.
    #[must_use]
    pub fn shifts_study_dates(&self) -> bool {
        self.action_for(crate::dicom::tags::STUDY_DATE) == Some(&Action::Shift)
    }

    /// Whether any date of a patient is moved by their offset.
    #[must_use]
    pub fn shifts_dates(&self) -> bool {
        self.rules.iter().any(|r| r.action == Action::Shift)
            || self.xml.iter().any(|r| r.action == Action::Shift)
            || self.annex_e.as_ref().is_some_and(|a| {
                a.options
                    .contains(&annex_e::AnnexOption::RetainLongitudinalModifiedDates)
            })
    }

    /// What happens to a standard (even group) tag: the profile's own rule, else the Basic
    /// Profile's action when the profile uses it.
    #[must_use]
    pub fn action_for(&self, tag: Tag) -> Option<&Action> {
        self.rule(tag).map(|r| &r.action).or_else(|| {
            if tag.0.is_multiple_of(2) {
                self.annex_e.as_ref().and_then(|a| a.action(tag))
            } else {
                None
            }
        })
    }

    /// True when the UIDs of this attribute are replaced by derived ones (a `uid` rule, or
    /// the Basic Profile without Retain UIDs).
    #[must_use]
    pub fn replaces_uid(&self, tag: Tag) -> bool {
        matches!(self.action_for(tag), Some(Action::Uid))
    }

    /// The rule for a tag, if any.
    #[must_use]
    pub fn rule(&self, tag: Tag) -> Option<&Rule> {
        self.rules
            .binary_search_by_key(&tag, |r| r.tag)
            .ok()
            .map(|i| &self.rules[i])
    }

    #[must_use]
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }
}

/// The `[[dicom]]` rules of a profile, checked (known tag, an action its VR allows, one rule
/// per tag), in tag order.
fn dicom_rules(
    specs: Vec<RuleSpec>,
    text: &str,
    values: &BTreeMap<String, String>,
    err_at: &dyn Fn(usize, String) -> ProfileError,
) -> Result<Vec<Rule>, ProfileError> {
    let mut rules: Vec<(Rule, usize)> = Vec::new();
    for spec in specs {
        let tag_text = spec.tag.get_ref();
        let at = spec.tag.span().start;
        let Some(tag) = dict::parse_tag(tag_text) else {
            let hint = suggest_keyword(tag_text)
                .map(|k| format!(" (did you mean {k}?)"))
                .unwrap_or_default();
            return Err(err_at(
                at,
                format!("unknown tag '{tag_text}': not a DICOM keyword or (gggg,eeee){hint}"),
            ));
        };
        let action = decode_action(&spec.action, &spec.replace, at, values, err_at)?;
        let vr = dict::vr_of(tag);
        let incompatible = match (&action, vr) {
            (Action::KeepYear | Action::Shift, Some(v)) => !matches!(v, VR::DA | VR::DT),
            (Action::Code | Action::Replace(_), Some(VR::SQ)) => true,
            (Action::Code | Action::Replace(_) | Action::Clean, Some(v)) => !crate::dicom::text::is_text_vr(v),
            (Action::Uid, Some(v)) => v != VR::UI,
            _ => false,
        };
        if incompatible {
            return Err(err_at(
                at,
                format!(
                    "`{}` cannot be used on {} (VR {:?})",
                    action.name(),
                    tag_text,
                    vr.unwrap_or(VR::UN)
                ),
            ));
        }
        if let Some((_, first)) = rules.iter().find(|(r, _)| r.tag == tag) {
            let (line, _) = line_col(text, *first);
            return Err(err_at(
                at,
                format!("second rule for {tag_text}; the first is on line {line}"),
            ));
        }
        rules.push((Rule { tag, action }, at));
    }
    let mut rules: Vec<Rule> = rules.into_iter().map(|(r, _)| r).collect();
    rules.sort_by_key(|r| r.tag);
    Ok(rules)
}

/// The `[[xml]]` rules of a profile, checked (an element or an attribute, a local name, no
/// `uid`).
fn xml_rules(
    specs: Vec<XmlRuleSpec>,
    values: &BTreeMap<String, String>,
    err_at: &dyn Fn(usize, String) -> ProfileError,
) -> Result<Vec<XmlRule>, ProfileError> {
    let mut xml = Vec::new();
    for spec in specs {
        let (target, at) = match (spec.element, spec.attribute) {
            (Some(e), None) => (XmlTarget::Element(e.get_ref().clone()), e.span().start),
            (None, Some(a)) => (XmlTarget::Attribute(a.get_ref().clone()), a.span().start),
            (Some(e), Some(_)) => {
                return Err(err_at(
                    e.span().start,
                    "an xml rule names an `element` or an `attribute`, not both".into(),
                ));
            }
            (None, None) => {
                let at = spec.action.as_ref().map_or(0, |a| a.span().start);
                return Err(err_at(
                    at,
                    "an xml rule needs `element = \"Name\"` or `attribute = \"name\"`".into(),
                ));
            }
        };
        let name = match &target {
            XmlTarget::Element(n) | XmlTarget::Attribute(n) => n,
        };
        if name.is_empty() || name.contains(':') || name.contains(char::is_whitespace) {
            return Err(err_at(
                at,
                format!("'{name}' is not a local XML name (leave out the prefix; use `namespace`)"),
            ));
        }
        let action = decode_action(&spec.action, &spec.replace, at, values, err_at)?;
        if action == Action::Uid {
            return Err(err_at(at, "`uid` is for DICOM UIDs; XML rules cannot use it".into()));
        }
        xml.push(XmlRule {
            target,
            under: spec.under,
            namespace: spec.namespace,
            ignore_case: spec.ignore_case,
            action,
        });
    }
    Ok(xml)
}

/// The action of a rule: `action = "…"` or `replace = "…"`, exactly one of them.
fn decode_action(
    action: &Option<Spanned<ActionName>>,
    replace: &Option<Spanned<String>>,
    at: usize,
    values: &BTreeMap<String, String>,
    err_at: &dyn Fn(usize, String) -> ProfileError,
) -> Result<Action, ProfileError> {
    match (action, replace) {
        (Some(_), Some(_)) => Err(err_at(at, "a rule has either `action` or `replace`, not both".into())),
        (None, None) => Err(err_at(
            at,
            "a rule needs `action = \"code|keep-year|shift|empty|remove|keep|dummy|clean|uid\"` or `replace = \"…\"`"
                .into(),
        )),
        (None, Some(r)) => Ok(Action::Replace(
            expand(r.get_ref(), values).map_err(|m| err_at(r.span().start, m))?,
        )),
        (Some(a), None) => Ok(match a.get_ref() {
            ActionName::Code => Action::Code,
            ActionName::KeepYear => Action::KeepYear,
            ActionName::Shift => Action::Shift,
            ActionName::Empty => Action::Empty,
            ActionName::Remove => Action::Remove,
            ActionName::Keep => Action::Keep,
            ActionName::Dummy => Action::Dummy,
            ActionName::Clean => Action::Clean,
            ActionName::Uid => Action::Uid,
            ActionName::Replace => {
                return Err(err_at(
                    a.span().start,
                    "write `replace = \"new text\"` instead of `action = \"replace\"`".into(),
                ));
            }
        }),
    }
}

/// Replaces `${name}` with values from the profile's `[values]` table.
fn expand(text: &str, values: &BTreeMap<String, String>) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find("${") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        let Some(j) = after.find('}') else {
            return Err("unclosed ${ in replacement".into());
        };
        let name = &after[..j];
        match values.get(name) {
            Some(v) => out.push_str(v),
            None => return Err(format!("${{{name}}} is not defined in [values]")),
        }
        rest = &after[j + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// A keyword one edit away from what the user typed (deletion, swap, replacement, insertion).
/// The dictionary cannot be listed, so candidates are generated and looked up.
fn suggest_keyword(text: &str) -> Option<String> {
    use dicom_core::dictionary::DataDictionary;
    let dict = dicom_dictionary_std::StandardDataDictionary;
    let chars: Vec<char> = text.chars().collect();
    if chars.is_empty() || chars.len() > 64 || !text.chars().all(|c| c.is_ascii_alphanumeric()) {
        return None;
    }
    let letters: Vec<char> = ('a'..='z').chain('A'..='Z').chain('0'..='9').collect();
    let known = |s: &str| dict.by_name(s).is_some();
    let word = |v: &[char]| v.iter().collect::<String>();
    for i in 0..chars.len() {
        let mut v = chars.clone();
        v.remove(i);
        if known(&word(&v)) {
            return Some(word(&v));
        }
        if i + 1 < chars.len() {
            let mut v = chars.clone();
            v.swap(i, i + 1);
            if known(&word(&v)) {
                return Some(word(&v));
            }
        }
    }
    for i in 0..=chars.len() {
        for &c in &letters {
            let mut v = chars.clone();
            v.insert(i, c);
            if known(&word(&v)) {
                return Some(word(&v));
            }
            if i < chars.len() {
                let mut v = chars.clone();
                v[i] = c;
                if known(&word(&v)) {
                    return Some(word(&v));
                }
            }
        }
    }
    None
}

#[must_use]
pub fn builtin_names() -> Vec<&'static str> {
    BUILTIN.iter().map(|(n, _)| *n).collect()
}

/// The TOML text of a built-in profile.
#[must_use]
pub fn builtin_text(name: &str) -> Option<&'static str> {
    BUILTIN.iter().find(|(n, _)| *n == name).map(|(_, t)| *t)
}

#[cfg(test)]
mod tests {

    #[test]
    fn options_on_the_command_line_and_the_shift_range() {
        let basic = Profile::resolve(Some("basic"), &[]).unwrap();
        assert!(!basic.shifts_dates());
        let shifted = basic
            .clone()
            .with_options(&["retain-longitudinal-modified-dates".into()])
            .unwrap();
        assert!(shifted.shifts_dates() && shifted.shifts_study_dates());
        assert_eq!(shifted.options, ["retain-longitudinal-modified-dates"]);
        assert_eq!(shifted.action_for(Tag(0x0008, 0x0020)), Some(&Action::Shift));
        assert_eq!(
            shifted.action_for(Tag(0x0010, 0x0030)),
            Some(&Action::Shift),
            "birth date"
        );
        assert_eq!(
            shifted.action_for(Tag(0x0008, 0x0030)),
            Some(&Action::Keep),
            "a time stays"
        );
        assert_eq!(shifted.shift_range, crate::values::shift::DEFAULT_RANGE);
        let e = basic.clone().with_options(&["no-such".into()]).unwrap_err();
        assert!(e.to_string().contains("retain-uids"), "{e}");

        // On a profile without the table: keep-year lines become shift; other options refused.
        let seed = Profile::resolve(None, &[]).unwrap();
        let s = seed
            .clone()
            .with_options(&["retain-longitudinal-modified-dates".into()])
            .unwrap();
        assert_eq!(s.rule(Tag(0x0010, 0x0030)).map(|r| &r.action), Some(&Action::Shift));
        assert!(s.shifts_dates() && !s.shifts_study_dates(), "seed keeps study dates");
        assert!(seed.with_options(&["retain-uids".into()]).is_err());

        // The range comes from [dates]; a bad one is refused with its line.
        let text = format!("{}\n[dates]\nshift-days = [-30, -7]\n", builtin_text("basic").unwrap());
        assert_eq!(Profile::parse(&text, "t.toml", &[]).unwrap().shift_range, (-30, -7));
        for bad in ["[0, 0]", "[-40000, -1]"] {
            let text = format!("[profile]\nname = \"x\"\n[dates]\nshift-days = {bad}\n");
            let e = Profile::parse(&text, "t.toml", &[]).unwrap_err().to_string();
            assert!(e.starts_with("t.toml:4:"), "{e}");
        }
        // In the profile's own options, as on the command line.
        let text = builtin_text("basic")
            .unwrap()
            .replace("options = []", "options = [\"retain-longitudinal-modified-dates\"]");
        let p = Profile::parse(&text, "t.toml", &[]).unwrap();
        assert_eq!(p.action_for(Tag(0x0008, 0x0020)), Some(&Action::Shift));

        // [dates] birth-date = "keep-year": the birth date keeps its year under the option.
        let text = format!(
            "{}\n[dates]\nbirth-date = \"keep-year\"\n",
            builtin_text("basic").unwrap()
        );
        let p = Profile::parse(&text, "t.toml", &[])
            .unwrap()
            .with_options(&["retain-longitudinal-modified-dates".into()])
            .unwrap();
        assert_eq!(p.action_for(Tag(0x0010, 0x0030)), Some(&Action::KeepYear));
        assert_eq!(p.action_for(Tag(0x0008, 0x0020)), Some(&Action::Shift));
        // Options in one order, the table's own not repeated: one fingerprint.
        let a = basic
            .clone()
            .with_options(&["retain-uids".into(), "clean-graphics".into()])
            .unwrap();
        let b = basic
            .with_options(&["clean-graphics".into(), "retain-uids".into()])
            .unwrap();
        assert_eq!(a.options, b.options);
    }
    use super::*;

    #[test]
    fn seed_profile_has_the_six_rules() {
        let p = Profile::resolve(None, &[]).expect("seed loads");
        assert_eq!(p.name, "seed");
        assert_eq!(p.rules().len(), 6);
        assert_eq!(p.rule(Tag(0x0010, 0x0010)).map(|r| &r.action), Some(&Action::Code));
        assert_eq!(p.rule(Tag(0x0010, 0x0030)).map(|r| &r.action), Some(&Action::KeepYear));
        assert_eq!(
            p.rule(Tag(0x0008, 0x1030)).map(|r| &r.action),
            Some(&Action::Replace("RESEARCH".into()))
        );
    }

    #[test]
    fn values_can_be_overridden() {
        let p = Profile::resolve(None, &[("institution".into(), "Uni X".into())]).expect("loads");
        assert_eq!(
            p.rule(Tag(0x0008, 0x0080)).map(|r| &r.action),
            Some(&Action::Replace("Uni X".into()))
        );
        let err = Profile::resolve(None, &[("nope".into(), "x".into())]).expect_err("unknown value");
        assert!(err.to_string().contains("nope"), "{err}");
    }

    fn invalid(text: &str) -> String {
        Profile::parse(text, "my.toml", &[])
            .expect_err("must be refused")
            .to_string()
    }

    #[test]
    fn unknown_keyword_names_file_line_and_suggests() {
        let e = invalid("[profile]\nname = \"x\"\n\n[[dicom]]\ntag = \"PatientNme\"\naction = \"code\"\n");
        assert!(e.starts_with("my.toml:5:"), "{e}");
        assert!(
            e.contains("PatientNme") && e.contains("did you mean PatientName"),
            "{e}"
        );
    }

    #[test]
    fn unknown_action_and_field_are_refused_with_line() {
        let e = invalid("[profile]\nname = \"x\"\n[[dicom]]\ntag = \"PatientID\"\naction = \"scramble\"\n");
        assert!(e.starts_with("my.toml:5:") && e.contains("scramble"), "{e}");
        let e = invalid("[profile]\nname = \"x\"\n[[dicom]]\ntag = \"PatientID\"\nactoin = \"code\"\n");
        assert!(e.starts_with("my.toml:5:") && e.contains("actoin"), "{e}");
    }

    #[test]
    fn inconsistent_rules_are_refused() {
        let e = invalid("[profile]\nname = \"x\"\n[[dicom]]\ntag = \"PatientName\"\naction = \"keep-year\"\n");
        assert!(e.contains("keep-year") && e.contains(":4:"), "{e}");
        let e = invalid(
            "[profile]\nname = \"x\"\n[[dicom]]\ntag = \"PatientID\"\naction = \"code\"\n[[dicom]]\ntag = \"(0010,0020)\"\naction = \"empty\"\n",
        );
        assert!(e.contains("first is on line 4"), "{e}");
        let e = invalid("[profile]\nname = \"x\"\n[[dicom]]\ntag = \"PatientID\"\nreplace = \"${nope}\"\n");
        assert!(e.contains("${nope}"), "{e}");
    }

    #[test]
    fn xml_rules_are_read_and_checked() {
        let p = Profile::resolve(None, &[]).unwrap();
        assert!(
            p.xml
                .iter()
                .any(|r| r.target == XmlTarget::Attribute("id".into()) && r.under.as_deref() == Some("Patient"))
        );
        let e = invalid("[profile]\nname = \"x\"\n[[xml]]\nelement = \"p:Name\"\naction = \"code\"\n");
        assert!(e.starts_with("my.toml:4:") && e.contains("namespace"), "{e}");
        let e =
            invalid("[profile]\nname = \"x\"\n[[xml]]\nelement = \"Name\"\nattribute = \"id\"\naction = \"code\"\n");
        assert!(e.contains("not both"), "{e}");
    }

    #[test]
    fn unknown_profile_lists_builtins() {
        let e = Profile::resolve(Some("no-such-profile"), &[])
            .expect_err("unknown")
            .to_string();
        assert!(e.contains("seed"), "{e}");
    }
}
