//! OceanBase's editions, and how each names itself.

/// OceanBase edition of a cluster or a binary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Edition {
    Ce,
    Business,
    Standalone,
}

impl Edition {
    pub const ALL: [Edition; 3] = [Self::Ce, Self::Business, Self::Standalone];

    /// The server package name of this edition.
    pub fn package(self) -> &'static str {
        match self {
            Self::Ce => "oceanbase-ce",
            Self::Business => "oceanbase",
            Self::Standalone => "oceanbase-standalone",
        }
    }

    /// Every package an upgrade hop needs (CE also needs its libs).
    pub fn required_packages(self) -> &'static [&'static str] {
        match self {
            Self::Ce => &["oceanbase-ce", "oceanbase-ce-libs"],
            Self::Business => &["oceanbase"],
            Self::Standalone => &["oceanbase-standalone"],
        }
    }

    /// Whether obshell is upgraded too (to the one bundled in the target
    /// package): CE and Standalone.
    pub fn upgrades_agent(self) -> bool {
        !matches!(self, Self::Business)
    }

    /// The product name `observer -V` prints before the version, e.g.
    /// `observer (OceanBase_CE 4.2.1.0)`: CMake's `PACKAGE_STRING` in
    /// OceanBase's `src/observer/main.cpp` (`print_version`). CE's and
    /// Business's are the project names; Standalone's is inferred
    /// (real-driver.md §0), which is why [`Edition::from_product`] also
    /// takes any `OceanBase_Standalone...`.
    pub fn product(self) -> &'static str {
        match self {
            Self::Ce => "OceanBase_CE",
            Self::Business => "OceanBase",
            Self::Standalone => "OceanBase_Standalone",
        }
    }

    /// The edition a product name stands for; `None` for products that are
    /// not an OceanBase server edition (e.g. `OceanBase seekdb`, the
    /// single-node server in PyPI's `pylibseekdb`).
    pub fn from_product(product: &str) -> Option<Self> {
        match product {
            "OceanBase_CE" => Some(Self::Ce),
            "OceanBase" => Some(Self::Business),
            p if p.starts_with("OceanBase_Standalone") => Some(Self::Standalone),
            _ => None,
        }
    }

    /// The lower-case word obup's flags and files use: `ce`, `business`,
    /// `standalone`.
    pub fn word(self) -> &'static str {
        match self {
            Self::Ce => "ce",
            Self::Business => "business",
            Self::Standalone => "standalone",
        }
    }

    pub fn from_word(word: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.word() == word)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn products_and_words_round_trip() {
        for e in Edition::ALL {
            assert_eq!(Edition::from_product(e.product()), Some(e));
            assert_eq!(Edition::from_word(e.word()), Some(e));
        }
        assert_eq!(Edition::from_product("OceanBase seekdb"), None);
        assert_eq!(Edition::from_product("OceanBase_Lite"), None);
        assert_eq!(Edition::from_word("CE"), None);
    }
}
