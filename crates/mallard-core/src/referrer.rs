//! Referrers: where a visit came from.
//!
//! A referrer header such as `https://www.google.co.uk/` becomes a source name
//! (`Google`) for the dashboard's sources report and a short URL
//! (`news.ycombinator.com/item`) for the drill-down. Internal navigation, empty
//! and non-web referrers are not sources and give `None`.
//!
//! Source names come from a built-in table of well-known hosts. A host matches a
//! table entry when it is that entry or a subdomain of it (`old.reddit.com`
//! matches `reddit.com`), the most specific entry winning (`mail.google.com` is
//! Gmail, not Google). Search engines and a few other brands with country
//! domains also match under any country or generic top-level domain
//! (`google.de`, `google.com.au`, `yandex.ru`). Unknown hosts are their own
//! source, without `www.`. The lookup is a `match` on string slices: no regular
//! expressions and no allocation besides the result.

use url::Url;

use crate::page::normalize_hostname;
use crate::text::{truncate_bytes, truncate_chars};

/// The longest referrer URL kept, in bytes; longer ones are cut.
pub const MAX_REFERRER_URL_LEN: usize = 2048;

/// The longest source name kept, in characters; longer ones are cut.
pub const MAX_SOURCE_LEN: usize = 256;

/// The most of a raw referrer that is parsed, in bytes. The host is at the start,
/// so cutting a longer referrer loses only the end of its path or query.
const MAX_RAW_REFERRER_LEN: usize = 8192;

/// An external source of traffic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Referrer {
    /// The source name, for example `Google`, or the host for unknown sites.
    pub source: String,
    /// Host and path without query string, for example `news.ycombinator.com/item`;
    /// the host alone for the root page. `None` when the source is not a web page.
    pub url: Option<String>,
}

/// Classifies a referrer header against the host name of the page it led to.
///
/// Returns `None` for an empty or unparseable referrer, for schemes other than
/// `http`, `https` and `android-app`, and for internal navigation, that is a
/// referrer on the page's own host (compared case-insensitively, ignoring a
/// leading `www.` on both sides). `android-app://` referrers map well-known apps
/// to their source name and others to their package name, without a URL.
pub fn classify_referrer(raw: &str, page_hostname: &str) -> Option<Referrer> {
    let raw = truncate_bytes(raw.trim(), MAX_RAW_REFERRER_LEN);
    if raw.is_empty() {
        return None;
    }
    let url = Url::parse(raw).ok()?;
    match url.scheme() {
        "http" | "https" => {}
        "android-app" => return android_app(&url),
        _ => return None,
    }
    let host = normalize_hostname(url.host_str()?)?;
    if normalize_hostname(page_hostname).is_some_and(|page| page == host) {
        return None;
    }
    let path = url.path();
    let full = if path.is_empty() || path == "/" {
        host.clone()
    } else {
        format!("{host}{path}")
    };
    let source = source_for_host(&host)
        .map(str::to_owned)
        .unwrap_or_else(|| truncate_chars(&host, MAX_SOURCE_LEN).to_owned());
    Some(Referrer {
        source,
        url: Some(truncate_bytes(&full, MAX_REFERRER_URL_LEN).to_owned()),
    })
}

/// Turns a `ref`, `source` or `utm_source` parameter into a source, for landing
/// pages visited without a referrer header.
///
/// Well-known short names (`google`, `twitter`, `hn`, `newsletter`, ...) and host
/// names of the built-in table (`news.ycombinator.com`) become their source name;
/// other host names lose their `www.`; anything else is kept as sent, trimmed and
/// cut to [`MAX_SOURCE_LEN`] characters. The URL is always `None`. An empty value
/// gives `None`.
pub fn source_from_param(param: &str) -> Option<Referrer> {
    let trimmed = truncate_chars(param.trim(), MAX_SOURCE_LEN).trim_end();
    if trimmed.is_empty() {
        return None;
    }
    let lower = trimmed.to_lowercase();
    let source = if let Some(name) = alias(&lower) {
        name.to_owned()
    } else if let Some(host) = host_of_param(&lower) {
        match source_for_host(&host) {
            Some(name) => name.to_owned(),
            None => host,
        }
    } else {
        trimmed.to_owned()
    };
    Some(Referrer {
        source: truncate_chars(&source, MAX_SOURCE_LEN).to_owned(),
        url: None,
    })
}

/// The normalised host of a parameter that looks like a host name or a web URL.
fn host_of_param(lower: &str) -> Option<String> {
    if lower.starts_with("http://") || lower.starts_with("https://") {
        let url = Url::parse(lower).ok()?;
        return normalize_hostname(url.host_str()?);
    }
    let looks_like_host = lower.contains('.')
        && lower
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-');
    if looks_like_host {
        normalize_hostname(lower)
    } else {
        None
    }
}

/// The source of an `android-app://package/` referrer.
fn android_app(url: &Url) -> Option<Referrer> {
    let package = url.host_str()?.trim().to_ascii_lowercase();
    if package.is_empty() {
        return None;
    }
    let source = match package.as_str() {
        "com.google.android.googlequicksearchbox" => "Google",
        "com.google.android.gm" | "com.google.android.gm.lite" => "Gmail",
        "com.google.android.youtube" => "YouTube",
        "com.google.android.apps.searchlite" => "Google",
        "com.twitter.android" => "Twitter",
        "com.facebook.katana" | "com.facebook.lite" => "Facebook",
        "com.facebook.orca" => "Messenger",
        "com.instagram.android" => "Instagram",
        "com.linkedin.android" => "LinkedIn",
        "com.reddit.frontpage" => "Reddit",
        "com.slack" => "Slack",
        "com.discord" => "Discord",
        "org.telegram.messenger" => "Telegram",
        "com.whatsapp" => "WhatsApp",
        "com.pinterest" => "Pinterest",
        "com.zhiliaoapp.musically" => "TikTok",
        "com.microsoft.office.outlook" => "Outlook",
        "com.openai.chatgpt" => "ChatGPT",
        "com.anthropic.claude" => "Claude",
        other => other,
    };
    Some(Referrer {
        source: truncate_chars(source, MAX_SOURCE_LEN).to_owned(),
        url: None,
    })
}

/// The source name of a normalised (lower-case, no `www.`) host, if it is known.
pub(crate) fn source_for_host(host: &str) -> Option<&'static str> {
    if let Some(name) = lookup_with_subdomains(host) {
        return Some(name);
    }
    any_tld(host)
}

/// Looks `host` and then each of its parent domains up in the table.
fn lookup_with_subdomains(host: &str) -> Option<&'static str> {
    let mut rest = host;
    loop {
        if let Some(name) = known_host(rest) {
            return Some(name);
        }
        let (_, parent) = rest.split_once('.')?;
        rest = parent;
    }
}

/// Matches brands with country domains (`google.co.uk`, `images.google.de`) by
/// rewriting the domain to `.com` and looking the result up, so that sub-hosts
/// such as `mail.google.de` keep their specific name.
fn any_tld(host: &str) -> Option<&'static str> {
    let labels: Vec<&str> = host.split('.').collect();
    for (i, label) in labels.iter().enumerate() {
        let Some(brand_name) = any_tld_brand(label) else {
            continue;
        };
        let tld = labels.get(i + 1..).unwrap_or_default();
        let looks_like_tld = matches!(tld.len(), 1 | 2)
            && tld
                .iter()
                .all(|l| (2..=3).contains(&l.len()) && l.bytes().all(|b| b.is_ascii_lowercase()));
        if !looks_like_tld {
            continue;
        }
        let head = labels.get(..=i).unwrap_or_default().join(".");
        return Some(lookup_with_subdomains(&format!("{head}.com")).unwrap_or(brand_name));
    }
    None
}

/// The brands matched under any top-level domain, and their source names.
fn any_tld_brand(label: &str) -> Option<&'static str> {
    Some(match label {
        "google" => "Google",
        "bing" => "Bing",
        "yahoo" => "Yahoo",
        "yandex" => "Yandex",
        "baidu" => "Baidu",
        "duckduckgo" => "DuckDuckGo",
        "ecosia" => "Ecosia",
        "qwant" => "Qwant",
        "startpage" => "Startpage",
        "naver" => "Naver",
        "seznam" => "Seznam",
        "pinterest" => "Pinterest",
        "amazon" => "Amazon",
        "ebay" => "eBay",
        _ => return None,
    })
}

/// Short names people put in `?ref=` and `utm_source=`, and their source names.
fn alias(lower: &str) -> Option<&'static str> {
    Some(match lower {
        "google" | "adwords" | "google ads" | "googleads" => "Google",
        "bing" => "Bing",
        "duckduckgo" | "ddg" => "DuckDuckGo",
        "yahoo" => "Yahoo",
        "yandex" => "Yandex",
        "baidu" => "Baidu",
        "ecosia" => "Ecosia",
        "brave" => "Brave Search",
        "facebook" | "fb" => "Facebook",
        "instagram" | "ig" => "Instagram",
        "twitter" | "x" | "tw" => "Twitter",
        "linkedin" | "li" => "LinkedIn",
        "reddit" => "Reddit",
        "youtube" | "yt" => "YouTube",
        "pinterest" => "Pinterest",
        "tiktok" => "TikTok",
        "github" | "gh" => "GitHub",
        "gitlab" => "GitLab",
        "hn" | "hackernews" | "hacker news" | "hacker-news" | "ycombinator" => "Hacker News",
        "lobsters" | "lobste.rs" => "Lobsters",
        "producthunt" | "product hunt" | "product-hunt" | "ph" => "Product Hunt",
        "stackoverflow" | "so" => "Stack Overflow",
        "wikipedia" => "Wikipedia",
        "medium" => "Medium",
        "substack" => "Substack",
        "dev" | "devto" | "dev.to" => "DEV",
        "mastodon" => "Mastodon",
        "bluesky" | "bsky" => "Bluesky",
        "threads" => "Threads",
        "slack" => "Slack",
        "discord" => "Discord",
        "telegram" => "Telegram",
        "whatsapp" => "WhatsApp",
        "chatgpt" | "openai" => "ChatGPT",
        "perplexity" => "Perplexity",
        "claude" => "Claude",
        "gemini" => "Gemini",
        "gmail" => "Gmail",
        "outlook" => "Outlook",
        "newsletter" => "Newsletter",
        "email" | "e-mail" | "mail" => "Email",
        _ => return None,
    })
}

/// The table of well-known hosts, without `www.`, and their source names.
fn known_host(host: &str) -> Option<&'static str> {
    Some(match host {
        // Search engines.
        "google.com" | "goo.gl" => "Google",
        "news.google.com" => "Google News",
        "scholar.google.com" => "Google Scholar",
        "bing.com" | "cn.bing.com" => "Bing",
        "duckduckgo.com" | "duck.com" => "DuckDuckGo",
        "yahoo.com" | "yahoo.co.jp" | "search.yahoo.com" => "Yahoo",
        "mail.yahoo.com" => "Yahoo Mail",
        "yandex.com" | "yandex.ru" | "ya.ru" => "Yandex",
        "baidu.com" => "Baidu",
        "ecosia.org" => "Ecosia",
        "search.brave.com" => "Brave Search",
        "startpage.com" => "Startpage",
        "qwant.com" => "Qwant",
        "naver.com" => "Naver",
        "seznam.cz" => "Seznam",
        "kagi.com" => "Kagi",
        "search.aol.com" | "aol.com" => "AOL",
        "ask.com" => "Ask",
        "sogou.com" => "Sogou",
        "so.com" => "360 Search",
        "mojeek.com" => "Mojeek",
        "daum.net" => "Daum",
        "you.com" => "You.com",
        // Social networks and communities.
        "facebook.com" | "fb.com" | "fb.me" | "fb.watch" => "Facebook",
        "messenger.com" => "Messenger",
        "instagram.com" => "Instagram",
        "twitter.com" | "t.co" | "x.com" => "Twitter",
        "linkedin.com" | "lnkd.in" => "LinkedIn",
        "reddit.com" | "redd.it" => "Reddit",
        "youtube.com" | "youtu.be" | "youtube-nocookie.com" => "YouTube",
        "pinterest.com" | "pin.it" => "Pinterest",
        "tiktok.com" => "TikTok",
        "snapchat.com" => "Snapchat",
        "tumblr.com" => "Tumblr",
        "vk.com" => "VK",
        "ok.ru" => "Odnoklassniki",
        "weibo.com" | "weibo.cn" => "Weibo",
        "quora.com" => "Quora",
        "threads.net" | "threads.com" => "Threads",
        "bsky.app" => "Bluesky",
        "mastodon.social" | "mastodon.online" | "mstdn.social" => "Mastodon",
        "news.ycombinator.com" => "Hacker News",
        "lobste.rs" => "Lobsters",
        "producthunt.com" => "Product Hunt",
        "indiehackers.com" => "Indie Hackers",
        "twitch.tv" => "Twitch",
        "vimeo.com" => "Vimeo",
        "flipboard.com" => "Flipboard",
        "feedly.com" => "Feedly",
        "getpocket.com" => "Pocket",
        "tildes.net" => "Tildes",
        "lemmy.world" => "Lemmy",
        // Developer sites and publishing.
        "github.com" => "GitHub",
        "gitlab.com" => "GitLab",
        "bitbucket.org" => "Bitbucket",
        "codeberg.org" => "Codeberg",
        "stackoverflow.com" => "Stack Overflow",
        "stackexchange.com" => "Stack Exchange",
        "wikipedia.org" => "Wikipedia",
        "medium.com" => "Medium",
        "substack.com" => "Substack",
        "dev.to" => "DEV",
        "hashnode.com" | "hashnode.dev" => "Hashnode",
        "npmjs.com" => "npm",
        "crates.io" => "crates.io",
        "docs.rs" => "docs.rs",
        "pypi.org" => "PyPI",
        // Messaging and mail.
        "slack.com" => "Slack",
        "discord.com" | "discord.gg" | "discordapp.com" => "Discord",
        "t.me" | "telegram.org" | "telegram.me" => "Telegram",
        "whatsapp.com" | "wa.me" => "WhatsApp",
        "teams.microsoft.com" | "teams.live.com" => "Microsoft Teams",
        "mail.google.com" => "Gmail",
        "outlook.live.com" | "outlook.office.com" | "outlook.office365.com" => "Outlook",
        "mail.proton.me" | "mail.protonmail.com" => "Proton Mail",
        "mail.yandex.ru" => "Yandex Mail",
        // AI assistants.
        "chatgpt.com" | "chat.openai.com" => "ChatGPT",
        "perplexity.ai" => "Perplexity",
        "claude.ai" => "Claude",
        "gemini.google.com" | "bard.google.com" => "Gemini",
        "copilot.microsoft.com" => "Copilot",
        "chat.deepseek.com" => "DeepSeek",
        "chat.mistral.ai" => "Mistral",
        "phind.com" => "Phind",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn source(raw: &str) -> Option<String> {
        classify_referrer(raw, "example.com").map(|r| r.source)
    }

    #[test]
    fn well_known_hosts_get_their_names() {
        let cases = [
            ("https://www.google.com/", "Google"),
            ("https://www.google.co.uk/", "Google"),
            ("https://google.de/search?q=x", "Google"),
            ("https://www.google.com.au/", "Google"),
            ("https://images.google.fr/", "Google"),
            ("https://mail.google.com/mail/u/0/", "Gmail"),
            ("https://mail.google.de/", "Gmail"),
            ("https://news.google.com/", "Google News"),
            ("https://gemini.google.com/app", "Gemini"),
            ("https://www.bing.com/search?q=x", "Bing"),
            ("https://duckduckgo.com/", "DuckDuckGo"),
            ("https://search.yahoo.com/", "Yahoo"),
            ("https://yahoo.co.jp/", "Yahoo"),
            ("https://yandex.ru/", "Yandex"),
            ("https://yandex.com.tr/", "Yandex"),
            ("https://www.baidu.com/", "Baidu"),
            ("https://www.ecosia.org/", "Ecosia"),
            ("https://search.brave.com/search?q=x", "Brave Search"),
            ("https://www.startpage.com/", "Startpage"),
            ("https://www.qwant.com/", "Qwant"),
            ("https://search.naver.com/", "Naver"),
            ("https://www.seznam.cz/", "Seznam"),
            ("https://m.facebook.com/", "Facebook"),
            ("https://l.facebook.com/l.php?u=x", "Facebook"),
            ("https://lm.facebook.com/", "Facebook"),
            ("https://fb.com/", "Facebook"),
            ("https://l.instagram.com/", "Instagram"),
            ("https://t.co/abc", "Twitter"),
            ("https://x.com/someone", "Twitter"),
            ("https://twitter.com/", "Twitter"),
            ("https://www.linkedin.com/feed/", "LinkedIn"),
            ("https://lnkd.in/abc", "LinkedIn"),
            ("https://old.reddit.com/r/rust/", "Reddit"),
            ("https://out.reddit.com/t3_x", "Reddit"),
            ("https://www.reddit.com/", "Reddit"),
            ("https://m.youtube.com/watch?v=x", "YouTube"),
            ("https://youtu.be/x", "YouTube"),
            ("https://www.pinterest.co.uk/", "Pinterest"),
            ("https://www.tiktok.com/", "TikTok"),
            ("https://github.com/user/repo", "GitHub"),
            ("https://gitlab.com/", "GitLab"),
            ("https://news.ycombinator.com/item?id=1", "Hacker News"),
            ("https://lobste.rs/", "Lobsters"),
            ("https://www.producthunt.com/", "Product Hunt"),
            ("https://stackoverflow.com/questions/1", "Stack Overflow"),
            ("https://en.wikipedia.org/wiki/Duck", "Wikipedia"),
            ("https://de.m.wikipedia.org/wiki/Ente", "Wikipedia"),
            ("https://medium.com/@a/b", "Medium"),
            ("https://someone.substack.com/p/x", "Substack"),
            ("https://dev.to/x", "DEV"),
            ("https://mastodon.social/@x", "Mastodon"),
            ("https://bsky.app/profile/x", "Bluesky"),
            ("https://www.threads.net/", "Threads"),
            ("https://app.slack.com/client", "Slack"),
            ("https://discord.com/channels/1", "Discord"),
            ("https://web.telegram.org/", "Telegram"),
            ("https://web.whatsapp.com/", "WhatsApp"),
            ("https://chatgpt.com/", "ChatGPT"),
            ("https://chat.openai.com/", "ChatGPT"),
            ("https://www.perplexity.ai/", "Perplexity"),
            ("https://claude.ai/chat/x", "Claude"),
            ("https://outlook.live.com/mail/0/", "Outlook"),
        ];
        for (raw, expected) in cases {
            assert_eq!(source(raw).as_deref(), Some(expected), "{raw}");
        }
    }

    #[test]
    fn unknown_hosts_are_their_own_source() {
        let r = classify_referrer("https://www.Some-Blog.net/posts/1?utm=x#y", "example.com");
        assert_eq!(
            r,
            Some(Referrer {
                source: "some-blog.net".into(),
                url: Some("some-blog.net/posts/1".into()),
            })
        );
        // Country domains of non-brands and look-alike domains stay unknown.
        assert_eq!(
            source("https://google.example.com/").as_deref(),
            Some("google.example.com")
        );
        assert_eq!(
            source("https://notgoogle.com/").as_deref(),
            Some("notgoogle.com")
        );
        assert_eq!(
            source("https://google.com.evil.io/").as_deref(),
            Some("google.com.evil.io")
        );
    }

    #[test]
    fn urls_are_host_and_path() {
        let r = classify_referrer("https://news.ycombinator.com/item?id=1", "a.com").unwrap();
        assert_eq!(r.url.as_deref(), Some("news.ycombinator.com/item"));
        let r = classify_referrer("https://www.google.com/", "a.com").unwrap();
        assert_eq!(r.url.as_deref(), Some("google.com"));
        let long = format!("https://blog.net/{}", "a".repeat(5000));
        let r = classify_referrer(&long, "a.com").unwrap();
        assert_eq!(r.url.unwrap().len(), MAX_REFERRER_URL_LEN);
    }

    #[test]
    fn internal_empty_and_foreign_referrers_are_ignored() {
        assert_eq!(classify_referrer("", "example.com"), None);
        assert_eq!(classify_referrer("   ", "example.com"), None);
        assert_eq!(classify_referrer("not a url", "example.com"), None);
        assert_eq!(classify_referrer("/relative", "example.com"), None);
        assert_eq!(
            classify_referrer("https://example.com/a", "example.com"),
            None
        );
        assert_eq!(
            classify_referrer("https://WWW.Example.com/a", "example.com"),
            None
        );
        assert_eq!(
            classify_referrer("https://example.com/a", "www.EXAMPLE.com"),
            None
        );
        assert_eq!(
            classify_referrer("http://localhost:3000/", "localhost"),
            None
        );
        assert_eq!(classify_referrer("ftp://files.net/", "example.com"), None);
        assert_eq!(
            classify_referrer("file:///home/x.html", "example.com"),
            None
        );
        assert_eq!(classify_referrer("about:blank", "example.com"), None);
        // A subdomain of the site is another host, hence a referrer.
        assert_eq!(
            source("https://blog.example.com/").as_deref(),
            Some("blog.example.com")
        );
    }

    #[test]
    fn android_apps_map_to_their_names() {
        let r = classify_referrer("android-app://com.google.android.gm/", "a.com").unwrap();
        assert_eq!(
            r,
            Referrer {
                source: "Gmail".into(),
                url: None
            }
        );
        let r = classify_referrer(
            "android-app://com.google.android.googlequicksearchbox/",
            "a.com",
        );
        assert_eq!(r.unwrap().source, "Google");
        let r = classify_referrer("android-app://org.example.reader", "a.com").unwrap();
        assert_eq!(r.source, "org.example.reader");
    }

    #[test]
    fn params_map_through_aliases_and_hosts() {
        let s = |p: &str| source_from_param(p).map(|r| r.source);
        assert_eq!(s("google").as_deref(), Some("Google"));
        assert_eq!(s(" Twitter ").as_deref(), Some("Twitter"));
        assert_eq!(s("hn").as_deref(), Some("Hacker News"));
        assert_eq!(s("newsletter").as_deref(), Some("Newsletter"));
        assert_eq!(s("news.ycombinator.com").as_deref(), Some("Hacker News"));
        assert_eq!(s("www.google.de").as_deref(), Some("Google"));
        assert_eq!(s("https://www.reddit.com/r/x").as_deref(), Some("Reddit"));
        assert_eq!(s("www.Some-Blog.net").as_deref(), Some("some-blog.net"));
        assert_eq!(s("Spring Campaign").as_deref(), Some("Spring Campaign"));
        assert_eq!(s(""), None);
        assert_eq!(s("  "), None);
        assert_eq!(source_from_param("google").unwrap().url, None);
        assert_eq!(
            s(&"x".repeat(1000)).unwrap().chars().count(),
            MAX_SOURCE_LEN
        );
    }

    proptest! {
        #[test]
        fn classify_never_panics(raw in any::<String>(), page in any::<String>()) {
            if let Some(r) = classify_referrer(&raw, &page) {
                prop_assert!(!r.source.is_empty());
                prop_assert!(r.source.chars().count() <= MAX_SOURCE_LEN);
                if let Some(url) = r.url {
                    prop_assert!(url.len() <= MAX_REFERRER_URL_LEN);
                }
            }
        }

        #[test]
        fn url_shaped_referrers_keep_the_invariants(
            scheme in "(https?|android-app|ftp)",
            host in "(www\\.)?[a-zA-Z0-9.-]{0,30}(:[0-9]{1,5})?",
            path in "(/[^?#]{0,40}){0,3}",
            rest in "[?#]?.{0,40}",
        ) {
            let raw = format!("{scheme}://{host}{path}{rest}");
            if let Some(r) = classify_referrer(&raw, "example.com") {
                prop_assert!(!r.source.is_empty());
                if let Some(url) = r.url {
                    prop_assert!(!r.source.starts_with("www."));
                    prop_assert!(!url.contains('?'));
                    prop_assert!(!url.starts_with("www."));
                    prop_assert!(url.len() <= MAX_REFERRER_URL_LEN);
                }
            }
            // The page's own host is never its own referrer.
            if let Ok(page) = crate::page::parse_page_url(&raw) {
                prop_assert_eq!(classify_referrer(&raw, &page.hostname), None);
            }
        }

        #[test]
        fn source_from_param_never_panics(raw in any::<String>()) {
            match source_from_param(&raw) {
                Some(r) => {
                    prop_assert!(!r.source.is_empty());
                    prop_assert!(r.source.chars().count() <= MAX_SOURCE_LEN);
                    prop_assert_eq!(r.url, None);
                }
                None => prop_assert!(raw.trim().is_empty()),
            }
        }
    }
}
