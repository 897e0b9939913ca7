use super::*;

/// real-driver.md §0: what a CE 4.2.1.0 observer prints on stderr.
const CE_421: &str = "observer (OceanBase_CE 4.2.1.0)\n\nREVISION: 100000102023092807-7b0f43693565654bb1d7343f728bba7a1e3c4b35\nBUILD_BRANCH: HEAD\nBUILD_TIME: Sep 28 2023 07:09:06\nBUILD_FLAGS: RelWithDebInfo\nBUILD_INFO:\n\nCopyright (c) 2011-present OceanBase Inc.\n";

/// Verbatim from `pylibseekdb/seekdb -V` (pylibseekdb 1.4.0.post1, run on
/// this machine): a line before the block, `BUILD_INFO: ` with its trailing
/// space, a space-padded day.
const SEEKDB_140: &str = "Starting seekdb (OceanBase seekdb 1.4.0.0) source revision 1-d0cbdf0e9931f46f68fd4ff4aec955c8c3b8efd2.\nseekdb (OceanBase seekdb 1.4.0.0)\n\nREVISION: 1-d0cbdf0e9931f46f68fd4ff4aec955c8c3b8efd2\nBUILD_BRANCH: HEAD\nBUILD_TIME: Sep  8 2026 07:05:33\nBUILD_FLAGS: RelWithDebInfo\nBUILD_INFO: \n\nCopyright (c) 2011-present OceanBase Inc.\n\n";

/// (case, output, (product, edition, version, build, build time)).
type Expected = (
    &'static str,
    Option<Edition>,
    &'static str,
    &'static str,
    &'static str,
);

#[test]
fn reads_real_version_blocks() {
    let business = CE_421.replace("OceanBase_CE", "OceanBase");
    let standalone = CE_421.replace("OceanBase_CE 4.2.1.0", "OceanBase_Standalone 4.2.5.0");
    let loader_noise = format!("ld.so: warning: something about a library\n{CE_421}");
    let crlf = CE_421.replace('\n', "\r\n");
    let cases: Vec<(&str, String, Expected)> = vec![
        (
            "CE",
            CE_421.into(),
            (
                "OceanBase_CE",
                Some(Edition::Ce),
                "4.2.1.0",
                "100000102023092807",
                "Sep 28 2023 07:09:06",
            ),
        ),
        (
            "Business",
            business,
            (
                "OceanBase",
                Some(Edition::Business),
                "4.2.1.0",
                "100000102023092807",
                "Sep 28 2023 07:09:06",
            ),
        ),
        (
            "Standalone",
            standalone,
            (
                "OceanBase_Standalone",
                Some(Edition::Standalone),
                "4.2.5.0",
                "100000102023092807",
                "Sep 28 2023 07:09:06",
            ),
        ),
        (
            "pylibseekdb, a line before the block",
            SEEKDB_140.into(),
            (
                "OceanBase seekdb",
                None,
                "1.4.0.0",
                "1",
                "Sep  8 2026 07:05:33",
            ),
        ),
        (
            "other lines before the block",
            loader_noise,
            (
                "OceanBase_CE",
                Some(Edition::Ce),
                "4.2.1.0",
                "100000102023092807",
                "Sep 28 2023 07:09:06",
            ),
        ),
        (
            "CRLF line ends",
            crlf,
            (
                "OceanBase_CE",
                Some(Edition::Ce),
                "4.2.1.0",
                "100000102023092807",
                "Sep 28 2023 07:09:06",
            ),
        ),
    ];
    for (case, text, (product, edition, version, build, time)) in cases {
        let v = ObserverVersion::parse(&text).unwrap_or_else(|e| panic!("{case}: {e}"));
        assert_eq!(v.product, product, "{case}");
        assert_eq!(v.edition(), edition, "{case}");
        assert_eq!(v.version, version, "{case}");
        assert_eq!(v.build(), build, "{case}");
        assert_eq!(v.build_time, time, "{case}");
        assert_eq!(v.version_build(), format!("{version}-{build}"), "{case}");
    }
}

#[test]
fn what_cannot_be_read_says_why() {
    use VersionParseError::*;
    let cases: [(&str, &str, VersionParseError); 6] = [
        ("empty", "", NoVersionLine),
        (
            "obup's old invented format",
            "BUILD_VERSION: 4.3.5.0_100000202024123117\n",
            NoVersionLine,
        ),
        (
            "no version in the parentheses",
            "observer (OceanBase_CE)\nREVISION: 1-a\n",
            NoVersionLine,
        ),
        (
            "no product",
            "observer (4.2.1.0)\nREVISION: 1-a\n",
            NoVersionLine,
        ),
        (
            "no revision",
            "observer (OceanBase_CE 4.2.1.0)\n\nBUILD_BRANCH: HEAD\n",
            NoRevision,
        ),
        (
            "a revision without a build",
            "observer (OceanBase_CE 4.2.1.0)\nREVISION: -7b0f\n",
            EmptyBuild("-7b0f".into()),
        ),
    ];
    for (case, text, expected) in cases {
        assert_eq!(ObserverVersion::parse(text), Err(expected), "{case}");
    }
}

#[test]
fn renders_what_it_reads_and_the_servers_view_form() {
    let v = ObserverVersion::parse(CE_421).unwrap();
    // The spec's block, with BUILD_INFO's trailing space that the code
    // (`"BUILD_INFO: %s\n"`) prints and the real run shows.
    let expected = CE_421
        .replace("BUILD_INFO:\n", "BUILD_INFO: \n")
        .replace("Inc.\n", "Inc.\n\n");
    assert_eq!(v.render(), expected);
    assert_eq!(ObserverVersion::parse(&v.render()).unwrap(), v);
    let seekdb = ObserverVersion::parse(SEEKDB_140).unwrap();
    assert!(
        SEEKDB_140.ends_with(&seekdb.render()),
        "the real block, byte for byte"
    );
    assert_eq!(
        v.server_build_version(),
        "4.2.1.0_100000102023092807-7b0f43693565654bb1d7343f728bba7a1e3c4b35(Sep 28 2023 07:09:06)"
    );
}

#[test]
fn splits_the_servers_view_build_version_like_obshell() {
    let v =
        "4.2.1.0_100000102023092807-7b0f43693565654bb1d7343f728bba7a1e3c4b35(Sep 28 2023 07:09:06)";
    assert_eq!(
        split_server_build_version(v),
        Some(("4.2.1.0", "100000102023092807"))
    );
    assert_eq!(
        split_server_build_version("4.3.5.0_100000202024123117(Dec 31 2024 17:00:00)"),
        Some(("4.3.5.0", "100000202024123117"))
    );
    assert_eq!(split_server_build_version("4.2.1.0"), None);
    assert_eq!(split_server_build_version("_1-a"), None);
}
