//! The role each method of the package store needs (the gate in front of
//! the routes checks it; see `obup_kit::auth`). Every method is listed: a
//! test checks the table against the protos.

use obup_kit::auth::Role::{self, Admin, Operator, Viewer};

pub const ACCESS: &[(&str, Role)] = &[
    ("/obup.packagestore.v1.PackageStore/Upload", Operator),
    // Where an upload stands is part of uploading (resume).
    (
        "/obup.packagestore.v1.PackageStore/GetUploadStatus",
        Operator,
    ),
    ("/obup.packagestore.v1.PackageStore/GetPackage", Viewer),
    ("/obup.packagestore.v1.PackageStore/ListPackages", Viewer),
    ("/obup.packagestore.v1.PackageStore/FindPackage", Viewer),
    ("/obup.packagestore.v1.PackageStore/DeletePackage", Admin),
    // Agents pull packages with a viewer token.
    ("/obup.packagestore.v1.PackageStore/Download", Viewer),
    // Each service keeps its own journal; both serve this method.
    ("/obup.audit.v1.Audit/ListAuditEvents", Admin),
];

/// The package store's methods that change something: each leaves an audit
/// event, refused or not. The protos mark every other method
/// `NO_SIDE_EFFECTS`; a test checks the two agree.
pub const MUTATING: &[&str] = &[
    "/obup.packagestore.v1.PackageStore/Upload",
    "/obup.packagestore.v1.PackageStore/DeletePackage",
];
