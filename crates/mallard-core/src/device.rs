//! Device classes: phone, tablet, laptop or desktop.
//!
//! The tracker reports the screen width, which is the most reliable signal; when
//! it is missing (server-side SDKs, the collector API) the user agent decides.

use crate::user_agent::UserAgentInfo;

/// Screens narrower than this many CSS pixels are phones.
const MOBILE_MAX_WIDTH: u16 = 576;
/// Screens narrower than this many CSS pixels (and not phones) are tablets.
const TABLET_MAX_WIDTH: u16 = 992;
/// Screens narrower than this many CSS pixels (and not tablets) are laptops.
const LAPTOP_MAX_WIDTH: u16 = 1440;

/// The class of device a visit came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum DeviceClass {
    /// Neither the screen width nor the user agent told.
    #[default]
    Unknown,
    /// A phone.
    Mobile,
    /// A tablet.
    Tablet,
    /// A laptop, or a small desktop screen.
    Laptop,
    /// A desktop computer with a large screen.
    Desktop,
}

impl DeviceClass {
    /// Every class, in the order of their codes.
    pub const ALL: [DeviceClass; 5] = [
        DeviceClass::Unknown,
        DeviceClass::Mobile,
        DeviceClass::Tablet,
        DeviceClass::Laptop,
        DeviceClass::Desktop,
    ];

    /// The name shown in dashboards and exports, for example `Mobile`.
    pub fn as_str(self) -> &'static str {
        match self {
            DeviceClass::Unknown => "Unknown",
            DeviceClass::Mobile => "Mobile",
            DeviceClass::Tablet => "Tablet",
            DeviceClass::Laptop => "Laptop",
            DeviceClass::Desktop => "Desktop",
        }
    }

    /// The compact storage code: 0 Unknown, 1 Mobile, 2 Tablet, 3 Laptop, 4 Desktop.
    pub fn code(self) -> u8 {
        match self {
            DeviceClass::Unknown => 0,
            DeviceClass::Mobile => 1,
            DeviceClass::Tablet => 2,
            DeviceClass::Laptop => 3,
            DeviceClass::Desktop => 4,
        }
    }

    /// The class of a storage code, or `None` for a code that names no class.
    pub fn from_code(code: u8) -> Option<Self> {
        match code {
            0 => Some(DeviceClass::Unknown),
            1 => Some(DeviceClass::Mobile),
            2 => Some(DeviceClass::Tablet),
            3 => Some(DeviceClass::Laptop),
            4 => Some(DeviceClass::Desktop),
            _ => None,
        }
    }

    /// The class of a dashboard name as returned by [`DeviceClass::as_str`],
    /// compared case-insensitively; useful for filters in query strings.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|class| class.as_str().eq_ignore_ascii_case(name.trim()))
    }

    /// The same as the free function [`from_screen_width`].
    pub fn from_screen_width(width: u16) -> Self {
        from_screen_width(width)
    }

    /// The same as the free function [`classify`].
    pub fn classify(screen_width: Option<u16>, ua: &UserAgentInfo) -> Self {
        classify(screen_width, ua)
    }
}

/// Classifies a screen width in CSS pixels with Plausible's thresholds:
/// below 576 Mobile, below 992 Tablet, below 1440 Laptop, else Desktop.
pub fn from_screen_width(width: u16) -> DeviceClass {
    if width < MOBILE_MAX_WIDTH {
        DeviceClass::Mobile
    } else if width < TABLET_MAX_WIDTH {
        DeviceClass::Tablet
    } else if width < LAPTOP_MAX_WIDTH {
        DeviceClass::Laptop
    } else {
        DeviceClass::Desktop
    }
}

/// Classifies a device from the screen width when one above zero is known, and
/// otherwise from the parsed user agent: tablets, then phones, then known desktop
/// operating systems (Windows, macOS, Linux, ChromeOS, BSD) as Desktop; anything
/// else is Unknown.
pub fn classify(screen_width: Option<u16>, ua: &UserAgentInfo) -> DeviceClass {
    if let Some(width) = screen_width.filter(|w| *w > 0) {
        return from_screen_width(width);
    }
    if ua.is_tablet {
        return DeviceClass::Tablet;
    }
    if ua.is_mobile {
        return DeviceClass::Mobile;
    }
    match ua.os.as_deref() {
        Some("Windows" | "macOS" | "Linux" | "ChromeOS" | "BSD") => DeviceClass::Desktop,
        _ => DeviceClass::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn screen_width_thresholds() {
        assert_eq!(from_screen_width(0), DeviceClass::Mobile);
        assert_eq!(from_screen_width(375), DeviceClass::Mobile);
        assert_eq!(from_screen_width(575), DeviceClass::Mobile);
        assert_eq!(from_screen_width(576), DeviceClass::Tablet);
        assert_eq!(from_screen_width(991), DeviceClass::Tablet);
        assert_eq!(from_screen_width(992), DeviceClass::Laptop);
        assert_eq!(from_screen_width(1439), DeviceClass::Laptop);
        assert_eq!(from_screen_width(1440), DeviceClass::Desktop);
        assert_eq!(from_screen_width(u16::MAX), DeviceClass::Desktop);
    }

    #[test]
    fn codes_and_names_round_trip() {
        for class in DeviceClass::ALL {
            assert_eq!(DeviceClass::from_code(class.code()), Some(class));
            assert_eq!(DeviceClass::from_name(class.as_str()), Some(class));
        }
        assert_eq!(DeviceClass::from_code(5), None);
        assert_eq!(
            DeviceClass::from_name(" mobile "),
            Some(DeviceClass::Mobile)
        );
        assert_eq!(DeviceClass::from_name("phone"), None);
        assert_eq!(DeviceClass::default(), DeviceClass::Unknown);
    }

    #[test]
    fn width_wins_over_the_user_agent() {
        let phone = UserAgentInfo {
            is_mobile: true,
            ..UserAgentInfo::default()
        };
        assert_eq!(classify(Some(1920), &phone), DeviceClass::Desktop);
        assert_eq!(classify(Some(0), &phone), DeviceClass::Mobile);
        assert_eq!(classify(None, &phone), DeviceClass::Mobile);
    }

    #[test]
    fn user_agent_fallback() {
        let tablet = UserAgentInfo {
            is_tablet: true,
            os: Some("Android".into()),
            ..UserAgentInfo::default()
        };
        assert_eq!(classify(None, &tablet), DeviceClass::Tablet);
        let windows = UserAgentInfo {
            os: Some("Windows".into()),
            ..UserAgentInfo::default()
        };
        assert_eq!(classify(None, &windows), DeviceClass::Desktop);
        let mac = UserAgentInfo {
            os: Some("macOS".into()),
            ..UserAgentInfo::default()
        };
        assert_eq!(classify(None, &mac), DeviceClass::Desktop);
        assert_eq!(
            classify(None, &UserAgentInfo::default()),
            DeviceClass::Unknown
        );
        let console = UserAgentInfo {
            os: Some("PlayStation 4".into()),
            ..UserAgentInfo::default()
        };
        assert_eq!(classify(None, &console), DeviceClass::Unknown);
    }

    #[test]
    fn real_user_agents_without_a_width() {
        use crate::user_agent::parse_user_agent;
        let cases = [
            (
                "Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like \
                 Gecko) Version/16.6 Mobile/15E148 Safari/604.1",
                DeviceClass::Tablet,
            ),
            (
                "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1_2 like Mac OS X) AppleWebKit/605.1.15 \
                 (KHTML, like Gecko) Version/17.1.2 Mobile/15E148 Safari/604.1",
                DeviceClass::Mobile,
            ),
            (
                "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, \
                 like Gecko) Version/17.1 Safari/605.1.15",
                DeviceClass::Desktop,
            ),
            ("curl/8.0.1", DeviceClass::Unknown),
        ];
        for (ua, expected) in cases {
            assert_eq!(classify(None, &parse_user_agent(ua)), expected, "{ua}");
        }
    }

    proptest! {
        #[test]
        fn any_positive_width_is_classified_by_width(width in 1u16..) {
            prop_assert_eq!(classify(Some(width), &UserAgentInfo::default()), from_screen_width(width));
        }

        #[test]
        fn from_code_accepts_exactly_the_codes(code in any::<u8>()) {
            prop_assert_eq!(DeviceClass::from_code(code).is_some(), code <= 4);
        }
    }
}
