//! Listings read page by page: an AWS list call answers one page and, when there is more,
//! a token for the next.

use std::future::Future;

use super::AwsResult;

/// How much of a listing is read at most; a listing that goes on past it is cut there.
pub(super) struct Bound {
    /// Pages asked for: a listing whose tokens never end still ends.
    pub(super) pages: usize,
    /// Items kept.
    pub(super) items: usize,
}

/// Every item of a paged listing within `bound`: `page(token)` reads one page (its items
/// and the next token), from the first (no token) until a page names no next one.
pub(super) async fn pages<T, F, Fut>(bound: Bound, mut page: F) -> AwsResult<Vec<T>>
where
    F: FnMut(Option<String>) -> Fut,
    Fut: Future<Output = AwsResult<(Vec<T>, Option<String>)>>,
{
    let mut items = vec![];
    let mut token = None;
    for _ in 0..bound.pages {
        let (more, next) = page(token).await?;
        items.extend(more);
        token = next;
        if token.is_none() || items.len() >= bound.items {
            break;
        }
    }
    items.truncate(bound.items);
    Ok(items)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn pages_are_read_until_the_last_and_no_further_than_the_bound() {
        let listing = |token: Option<String>| async move {
            let n: usize = token.map_or(0, |t| t.parse().unwrap());
            Ok((vec![n, n + 1], Some((n + 2).to_string())))
        };
        let read = pages(Bound { pages: 3, items: usize::MAX }, listing).await.unwrap();
        assert_eq!(read, [0, 1, 2, 3, 4, 5], "an endless listing cut at three pages");
        let read = pages(Bound { pages: 100, items: 3 }, listing).await.unwrap();
        assert_eq!(read, [0, 1, 2], "and at three items");
        let last = |_: Option<String>| async { Ok((vec!["only"], None)) };
        assert_eq!(pages(Bound { pages: 100, items: 100 }, last).await.unwrap(), ["only"]);
    }
}
