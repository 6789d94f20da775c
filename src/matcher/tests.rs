use super::*;
use crate::matcher::IdentifierKind::{BirthDate, PatientId, PatientName};

fn person(name: &str, id: &str, birth: &str) -> Identity {
    let mut i = Identity::default();
    if !name.is_empty() {
        i.names.insert(name.into());
    }
    if !id.is_empty() {
        i.ids.insert(id.into());
    }
    if !birth.is_empty() {
        i.birth_dates.insert(birth.into());
    }
    i
}

fn hits(ids: &Identifiers, text: &str) -> Vec<IdentifierKind> {
    ids.find(text.as_bytes())
}

fn replacer(identity: &Identity) -> Replacer {
    Replacer::new(replacement_patterns([("P1", identity)]))
}

#[test]
fn ids_in_paths_only_when_distinctive() {
    for id in ["1CT1", "PAT001", "98890234", "ID00PAT001", "X7Q", "AB12C"] {
        assert!(distinctive_id(id), "{id}");
    }
    for id in ["MR1", "CT02", "T1", "ID1", "001", "12345", "AB", "ABCDE"] {
        assert!(!distinctive_id(id), "{id}");
    }
    let identity = Identity {
        ids: ["MR1", "001", "12345", "1CT1", "ABCD"]
            .into_iter()
            .map(String::from)
            .collect(),
        ..Default::default()
    };
    assert_eq!(exact_path_ids(&identity), ["12345", "ABCD", "MR1"]);
}

#[test]
fn name_parts_in_paths_only_when_distinctive() {
    let identity = Identity {
        names: ["CompressedSamples^MR1".to_string(), "Head^Jo^Anne".to_string()].into(),
        ..Default::default()
    };
    let pats: Vec<String> = path_patterns("P1", &identity).into_iter().map(|p| p.find).collect();
    assert!(pats.contains(&"CompressedSamples".to_string()), "{pats:?}");
    assert!(pats.contains(&"Head Jo Anne".to_string()), "{pats:?}");
    assert!(pats.contains(&"Anne".to_string()), "{pats:?}");
    for generic in ["MR1", "Head", "Jo"] {
        assert!(!pats.contains(&generic.to_string()), "{generic}: {pats:?}");
    }
}

#[test]
fn ids_inside_longer_tokens_in_paths() {
    let who = person("Müller^Hans", "778899123", "19610423");
    let r = Replacer::new(path_patterns("P1", &who));
    assert_eq!(r.replace("CT778899123").as_deref(), Some("CTP1"));
    assert_eq!(r.replace("müller").as_deref(), Some("P1"));
    assert_eq!(r.replace("Müller_Hans").as_deref(), Some("P1"));
    assert_eq!(r.replace("Mueller_Hans").as_deref(), Some("P1"));
}

#[test]
fn a_shorter_whole_word_is_replaced_where_the_longest_match_is_not_one() {
    let r = Replacer::new(vec![
        Replacement::word("Jane Doe", "P1"),
        Replacement::word("Jane", "P1"),
        Replacement::word("Doe", "P1"),
        Replacement::word("Lee", "P2"),
    ]);
    assert_eq!(r.replace("Jane Doerr").as_deref(), Some("P1 Doerr"));
    assert_eq!(r.replace("jane doe, Lee").as_deref(), Some("P1, P2"));
    assert_eq!(r.replace("Leeds Doerr"), None);
    assert_eq!(r.replace("xJane Doe").as_deref(), Some("xJane P1"));
    assert_eq!(r.replace("Jäne Doe").as_deref(), Some("P1"), "marks do not matter");
    assert_eq!(
        r.replace("Jänet Doe").as_deref(),
        Some("Jänet P1"),
        "ä is a letter: no word boundary"
    );
}

#[test]
fn replacer_replaces_whole_words_each_by_its_patients_code() {
    let mut a = Identity::default();
    a.ids.insert("DEMO-001".into());
    a.names.insert("Doe^Jane^pre".into());
    let mut b = Identity::default();
    b.ids.insert("X77".into());
    let r = Replacer::new(replacement_patterns([("P1", &a), ("P2", &b)]));
    assert_eq!(r.replace("DEMO-001").as_deref(), Some("P1"));
    assert_eq!(r.replace("Doe_Jane_scan").as_deref(), Some("P1_scan"));
    assert_eq!(r.replace("seen by x77, Doe").as_deref(), Some("seen by P2, P1"));
    assert_eq!(r.replace("rtstruct_no_preamble"), None, "no part of a word");
    assert_eq!(r.replace("Doerr"), None);
}

#[test]
fn an_over_long_value_is_found_by_its_prefix() {
    let long = "Q".repeat(MAX_PATTERN * 3);
    let ids = Identifiers::new(&Identity {
        ids: [long.clone()].into(),
        ..Default::default()
    });
    assert_eq!(hits(&ids, &format!("x {long} y")), vec![PatientId]);
    assert_eq!(hits(&ids, &format!("{long}QQQ")), vec![PatientId]);
    assert!(hits(&ids, &format!("A{long}")).is_empty());
    assert!(hits(&ids, "QQQ").is_empty());
    let r = Replacer::new(vec![Replacement::word(long.clone(), "P0001")]);
    assert_eq!(r.replace(&long), None, "left alone rather than a part of it replaced");
}

#[test]
fn latin_names_in_every_case_mark_and_transliteration() {
    let ids = Identifiers::new(&person("Müller^Hans", "", ""));
    for text in [
        "MÜLLER",
        "Mu\u{308}ller",
        "Muller",
        "MUELLER",
        "Mueller",
        "report for hans",
        "Hans Müller",
        "MÜLLER, HANS",
        "HansMüller",
        "müller_hans",
    ] {
        assert_eq!(hits(&ids, text), vec![PatientName], "{text:?}");
    }
    for miss in ["Müllerstraße", "Hansa", "Mull", "Muell"] {
        assert!(hits(&ids, miss).is_empty(), "{miss:?}");
    }
    // German ß, French accents, Nordic and Polish letters.
    let ids = Identifiers::new(&person("Straße^José", "", ""));
    for text in ["STRASSE", "strasse", "JOSE", "José", "Jose\u{301}"] {
        assert_eq!(hits(&ids, text), vec![PatientName], "{text:?}");
    }
    assert!(hits(&ids, "Joseph Strassen").is_empty());
    let ids = Identifiers::new(&person("Søndergård^Åse", "", ""));
    for text in ["SONDERGARD", "Soendergaard", "søndergård", "ÅSE", "Aase"] {
        assert_eq!(hits(&ids, text), vec![PatientName], "{text:?}");
    }
    assert!(hits(&ids, "Sondergarden").is_empty());
    let ids = Identifiers::new(&person("Wałęsa^Łukasz", "", ""));
    for text in ["WALESA", "Walesa Lukasz", "łukasz"] {
        assert_eq!(hits(&ids, text), vec![PatientName], "{text:?}");
    }
    assert!(hits(&ids, "Walesan").is_empty());
    // Upper-case free text, as older systems write it.
    let ids = Identifiers::new(&person("Köhler^Anna", "", ""));
    assert_eq!(hits(&ids, "CT THORAX pre-op KÖHLER"), vec![PatientName]);
    assert_eq!(hits(&ids, "CT THORAX pre-op KOEHLER"), vec![PatientName]);
}

#[test]
fn apostrophes_hyphens_and_whitespace_runs() {
    let ids = Identifiers::new(&person("O'Brien^Mary-Kate", "", ""));
    for text in [
        "O’Brien",
        "o`brien",
        "O‘BRIEN",
        "Mary–Kate O'Brien",
        "Mary-Kate   O’Brien",
        "MARY",
    ] {
        assert_eq!(hits(&ids, text), vec![PatientName], "{text:?}");
    }
    let r = replacer(&person("O'Brien^Mary", "", ""));
    assert_eq!(r.replace("seen: Mary  O’Brien.").as_deref(), Some("seen: P1."));
}

#[test]
fn every_value_and_component_group_of_a_name() {
    let ids = Identifiers::new(&person("Yamada^Tarou=山田^太郎=やまだ^たろう", "", ""));
    for text in [
        "山田 follow-up",
        "山田太郎",
        "山田 太郎",
        "やまだたろう",
        "TAROU YAMADA",
        "患者山田太郎様",
    ] {
        assert_eq!(hits(&ids, text), vec![PatientName], "{text:?}");
    }
    assert!(hits(&ids, "田中 follow-up").is_empty());
    // A one-character family name is searched with the given name only.
    let ids = Identifiers::new(&person("王^芳", "", ""));
    assert_eq!(hits(&ids, "复查王芳CT"), vec![PatientName]);
    assert!(hits(&ids, "王先生").is_empty(), "王 alone is everywhere");
    let ids = Identifiers::new(&person("김^민준", "", ""));
    assert_eq!(hits(&ids, "김민준 추적검사"), vec![PatientName]);
    assert!(hits(&ids, "김철수").is_empty());
    // The second value of a multi-valued name.
    let ids = Identifiers::new(&person("Doe^Jane\\Roe^Janet", "", ""));
    assert_eq!(hits(&ids, "maiden name ROE"), vec![PatientName]);
    // And the replacer takes the whole original span.
    let r = replacer(&person("Yamada^Tarou=山田^太郎", "", ""));
    assert_eq!(r.replace("患者山田太郎様").as_deref(), Some("患者P1様"));
    let r = replacer(&person("Müller^Hans", "", ""));
    assert_eq!(r.replace("Dr. Mu\u{308}ller's note").as_deref(), Some("Dr. P1's note"));
}

#[test]
fn ids_as_words_inside_tokens_and_with_leading_zeros() {
    let ids = Identifiers::new(&person("", "778899123", ""));
    for text in ["MRN778899123", "ref 0778899123", "CT778899123/", "id=778899123"] {
        assert_eq!(hits(&ids, text), vec![PatientId], "{text:?}");
    }
    assert!(hits(&ids, "77889912").is_empty(), "a part of the ID is no finding");
    let ids = Identifiers::new(&person("", "PAT001", ""));
    assert_eq!(hits(&ids, "ID00PAT001/"), vec![PatientId]);
    let ids = Identifiers::new(&person("", "0012345", ""));
    assert_eq!(hits(&ids, "case 12345"), vec![PatientId], "leading zeros stripped");
    let ids = Identifiers::new(&person("", "12345", ""));
    assert_eq!(hits(&ids, "case 012345"), vec![PatientId], "leading zeros added");
    assert!(hits(&ids, "case 123456").is_empty(), "a short ID only as a word");
    assert!(hits(&ids, "x12345").is_empty());
    // OtherPatientIDs likewise.
    let mut other = Identity::default();
    other.other_ids.insert("556677889".into());
    assert_eq!(hits(&Identifiers::new(&other), "old MRN556677889"), vec![PatientId]);
    // An ID of letters only is a word.
    let ids = Identifiers::new(&person("", "ANONPATIENT", ""));
    assert!(hits(&ids, "ANONPATIENTS").is_empty());
    let r = replacer(&person("", "778899123", ""));
    assert_eq!(r.replace("MRN778899123").as_deref(), Some("MRNP1"));
}

#[test]
fn birth_dates_in_every_common_form() {
    let ids = Identifiers::new(&person("", "", "19610423"));
    for text in [
        "19610423",
        "born 1961-04-23",
        "23.04.1961",
        "23.4.1961",
        "04/23/1961",
        "4/23/1961",
        "23/04/1961",
        "23 APR 1961",
        "23-Apr-1961",
        "April 23, 1961",
        "23. April 1961",
        "DOB 610423",
        "230461",
    ] {
        assert_eq!(hits(&ids, text), vec![BirthDate], "{text:?}");
    }
    for miss in ["1.2.840.19610423.1", "6104231", "24 APR 1961", "19610424"] {
        assert!(hits(&ids, miss).is_empty(), "{miss:?}");
    }
    let ids = Identifiers::new(&person("", "", "19500317"));
    assert_eq!(hits(&ids, "geb. 17. März 1950"), vec![BirthDate]);
    assert_eq!(hits(&ids, "17 MÄRZ 1950"), vec![BirthDate]);
    let r = replacer(&person("", "", "19610423"));
    assert_eq!(r.replace("born 23 APR 1961").as_deref(), Some("born 01 Jan 1961"));
    assert_eq!(r.replace("DOB 610423").as_deref(), Some("DOB 610101"));
}

#[test]
fn common_words_are_no_names_alone() {
    // Decided: a name part that is also a common word of imaging (`Mask`, `Liver`, `Head`) is
    // never looked for alone, so `MASK liver` stays for a patient named Mask; the whole name
    // still counts.
    let ids = Identifiers::new(&person("Mask^Anna", "", ""));
    assert!(hits(&ids, "MASK liver").is_empty());
    assert_eq!(hits(&ids, "Anna MASK liver"), vec![PatientName]);
    assert_eq!(hits(&ids, "for anna"), vec![PatientName]);
    let r = replacer(&person("Mask^Anna", "", ""));
    assert_eq!(r.replace("MASK liver"), None);
    assert_eq!(r.replace("Mask, Anna").as_deref(), Some("P1"));
}

#[test]
fn short_names_are_found_whole_only() {
    let ids = Identifiers::new(&person("Li^Bo", "", ""));
    for text in [
        "seen by Li^Bo",
        "seen by Li Bo",
        "seen by Bo Li",
        "seen by Li, Bo",
        "LiBo",
    ] {
        assert_eq!(hits(&ids, text), vec![PatientName], "{text}");
    }
    assert!(hits(&ids, "Lithium Bone").is_empty());
    assert!(
        hits(&ids, "nothing here, Li").is_empty(),
        "two-letter parts are not searched alone"
    );
}

#[test]
fn latin1_bytes_and_uids() {
    let ids = Identifiers::new(&person("Müller^Hans^Q", "MAP001", "19500317"));
    assert_eq!(ids.find(b"M\xFCller"), vec![PatientName], "Latin-1 bytes");
    assert_eq!(ids.find(b"id=map001, x"), vec![PatientId]);
    assert_eq!(
        ids.find(b"id=map001x"),
        vec![PatientId],
        "six characters with a digit: inside words too"
    );
    assert_eq!(ids.find(b"1.2.840.MAP001.7"), vec![PatientId], "inside a UID");
    let ids = Identifiers::new(&person("", "MAP01", ""));
    assert!(ids.find(b"id=map01x").is_empty(), "a shorter ID only as a word");
}

/// Bytes of no known encoding (OB, OW, UN) are searched as UTF-16 too, in the byte order
/// that fits; binary that only happens to hold zeros is no text.
#[test]
fn utf16_in_bytes_is_found() {
    let ids = Identifiers::new(&person("Müller^Hans", "778899123", "19610423"));
    let le: Vec<u8> = "note: seen Hans Müller"
        .encode_utf16()
        .flat_map(u16::to_le_bytes)
        .collect();
    let be: Vec<u8> = "ID 778899123".encode_utf16().flat_map(u16::to_be_bytes).collect();
    assert_eq!(ids.find(&le), vec![], "not as bytes");
    assert_eq!(ids.find_in_bytes(&le), vec![PatientName]);
    assert_eq!(ids.find_in_bytes(&be), vec![PatientId]);
    let zeros = vec![0u8; 64];
    assert!(ids.find_in_bytes(&zeros).is_empty());
    let near: Vec<u8> = "Muell Hansen".encode_utf16().flat_map(u16::to_le_bytes).collect();
    assert!(ids.find_in_bytes(&near).is_empty(), "a near miss stays one");
}

/// A number at the end of a sentence is found (`born 19610423.`); inside a UID it is not,
/// since a digit follows the dot there.
#[test]
fn a_dot_ends_a_number_unless_a_digit_follows() {
    let ids = Identifiers::new(&person("Doe^Jane", "PAT1", "19610423"));
    assert_eq!(hits(&ids, "born 19610423."), vec![BirthDate]);
    assert_eq!(hits(&ids, "1.2.19610423.5"), vec![]);
    assert_eq!(hits(&ids, "2.19610423"), vec![]);
}

/// The rules of names tell what dams replaces in a file or folder name from what the search
/// finds there that is too short or generic: another patient's distinctive ID, a whole short
/// ID, a long name part and a birth date are replaced; a short ID inside a longer name and a
/// series label that is a name part are not.
#[test]
fn name_rules_tell_replaced_from_kept() {
    let people = [
        person("LEE^ANN", "12345", ""),
        person("SMITH^JOHN", "A12345", "19600505"),
        person("CompressedSamples^MR1", "4MR1", ""),
    ];
    let rules = NameRules::new(&people, false);
    let ids = search_for(&people, false);
    for (name, is_file) in [
        ("A12345", false),
        ("12345", false),
        ("12345.dcm", true),
        ("Smith_CT", false),
        ("19600505", false),
    ] {
        assert!(!hits(&ids, name).is_empty(), "{name} is found");
        assert!(rules.replaces(name, is_file), "{name} is replaced");
    }
    for name in ["12345_CT", "MR1"] {
        assert!(!hits(&ids, name).is_empty(), "{name} is found");
        assert!(!rules.replaces(name, false), "{name} is kept");
    }
    assert!(!rules.replaces("CT_001", false));
}
