//! Data-format and deterministic functions: YAML, JSON and TOML in Helm's dialect, encodings,
//! hashes and password hashes, seeded randomness, semantic versions, dates, and Helm's
//! `required` and `fail`.
//!
//! Functions that are random or read the clock in Helm read the render's [`Ctx`] instead: the
//! same seed and clock give the same output.

use super::Func;

mod certs;
mod dates;
mod encoding;
mod hash;
mod helm;
mod json;
mod passwords;
mod random;
mod semver;
mod toml;
pub(crate) mod yaml;
mod yaml_emit;

/// The function named `name`, if this part of the library has it.
pub(super) fn lookup(name: &str) -> Option<Func> {
    Some(match name {
        "toYaml" => yaml::to_yaml_fn,
        "mustToYaml" => yaml::must_to_yaml,
        "toYamlPretty" => yaml::to_yaml_pretty,
        "fromYaml" => yaml::from_yaml,
        "fromYamlArray" => yaml::from_yaml_array,
        "toJson" => json::to_json,
        "mustToJson" => json::must_to_json,
        "toRawJson" => json::to_raw_json,
        "mustToRawJson" => json::must_to_raw_json,
        "toPrettyJson" => json::to_pretty_json,
        "mustToPrettyJson" => json::must_to_pretty_json,
        "fromJson" => json::from_json,
        "fromJsonArray" => json::from_json_array,
        "toToml" => toml::to_toml,
        "fromToml" => toml::from_toml,
        "b64enc" => encoding::b64enc,
        "b64dec" => encoding::b64dec,
        "b32enc" => encoding::b32enc,
        "b32dec" => encoding::b32dec,
        "sha1sum" => hash::sha1sum,
        "sha256sum" => hash::sha256sum,
        "sha512sum" => hash::sha512sum,
        "adler32sum" => hash::adler32sum,
        "bcrypt" => passwords::bcrypt,
        "htpasswd" => passwords::htpasswd,
        "derivePassword" => passwords::derive_password,
        "randAlphaNum" => random::rand_alpha_num,
        "randAlpha" => random::rand_alpha,
        "randNumeric" => random::rand_numeric,
        "randAscii" => random::rand_ascii,
        "randBytes" => random::rand_bytes,
        "randInt" => random::rand_int,
        "shuffle" => random::shuffle,
        "uuidv4" => random::uuidv4,
        "semver" => semver::semver,
        "semverCompare" => semver::semver_compare,
        "now" => dates::now,
        "date" => dates::date,
        "dateInZone" | "date_in_zone" => dates::date_in_zone,
        "htmlDate" => dates::html_date,
        "htmlDateInZone" => dates::html_date_in_zone,
        "toDate" => dates::to_date,
        "mustToDate" => dates::must_to_date,
        "unixEpoch" => dates::unix_epoch,
        "ago" => dates::ago,
        "duration" => dates::duration,
        "durationRound" => dates::duration_round,
        "dateModify" | "date_modify" => dates::date_modify,
        "mustDateModify" => dates::must_date_modify,
        "genPrivateKey" => certs::gen_private_key,
        "genCA" => certs::gen_ca,
        "genCAWithKey" => certs::gen_ca_with_key,
        "genSelfSignedCert" => certs::gen_self_signed_cert,
        "genSelfSignedCertWithKey" => certs::gen_self_signed_cert_with_key,
        "genSignedCert" => certs::gen_signed_cert,
        "genSignedCertWithKey" => certs::gen_signed_cert_with_key,
        "buildCustomCert" => certs::build_custom_cert,
        "required" => helm::required,
        "fail" => helm::fail,
        "lookup" => helm::lookup,
        _ => return None,
    })
}
