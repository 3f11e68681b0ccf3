//! The code index of a day segment ([`super::part::CODE_VISITS`]): for each
//! event code of the day, the visits whose events hold it.
//!
//! A filter on a page or an event name (`page==/pricing`, `event==Signup`,
//! a goal) needs the visits with that code among their events. Without the
//! index every visit's codes are searched; with it the visits that hold the
//! code are read from its list, and the others are passed over in runs like
//! the visits an attribute condition rules out.
//!
//! The payload, derived from the steps part alone ([`build`]):
//! `varint(codes)`, then per code in ascending order `varint(code - previous
//! code)` (the first from 0), `varint(byte length of its list)`, the list,
//! `varint(byte length of its repeats)` and the repeats. The list names each
//! visit that holds the code once, however often it holds it: the first
//! visit's index as a varint, then each next one as `varint(index - previous
//! index - 1)`. The repeats say how often the visits that hold the code more
//! than once hold it: per such visit, in the list's order,
//! `varint(position in the list - previous such position - 1)` (the first
//! from 0) and `varint(times - 2)`. With them a count by page or event name
//! over visits chosen by their attributes reads the index alone
//! ([`tally`]), not every visit's codes.
//!
//! Days packed before the repeats existed have the index without them under
//! [`super::part::CODE_VISITS_BEFORE_REPEATS`]: they are read as days without
//! an index until the writer rebuilds it ([`crate::derived_parts`]).
//!
//! The part is optional: a day packed before it existed is read without it
//! (the writer adds it, [`crate::derived_parts`]), and it must always equal
//! what [`build`] makes of the day's steps (`mallard check` compares them).

use super::{Damaged, STEPS_FORMAT, next_codes, step_code};
use crate::varint::{get_varint, put_varint};
use crate::visit_record::StepNeed;

/// The code index of the (unsealed) steps part `steps` of a day of `count`
/// visits.
pub(crate) fn build(steps: &[u8], count: usize) -> Result<Vec<u8>, Damaged> {
    if steps.first() != Some(&STEPS_FORMAT) {
        return Err(Damaged);
    }
    let mut pairs: Vec<(u64, u32)> = Vec::with_capacity(count * 2);
    let mut at = 1;
    for visit in 0..count {
        let visit = u32::try_from(visit).map_err(|_| Damaged)?;
        let codes = next_codes(steps, &mut at)?;
        let mut within = 0;
        while within < codes.len() {
            pairs.push((get_varint(codes, &mut within).ok_or(Damaged)?, visit));
        }
    }
    if at != steps.len() {
        return Err(Damaged);
    }
    Ok(from_pairs(pairs))
}

/// The code index of the `(code, visit index)` pairs of a day's events, in
/// any order and repeated as often as the events are.
pub(crate) fn from_pairs(mut pairs: Vec<(u64, u32)>) -> Vec<u8> {
    pairs.sort_unstable();
    // Each distinct pair with how often it came.
    let mut held: Vec<(u64, u32, u64)> = Vec::with_capacity(pairs.len());
    for same in pairs.chunk_by(|a, b| a == b) {
        held.push((same[0].0, same[0].1, same.len() as u64));
    }
    let mut out = Vec::with_capacity(held.len() + 16);
    put_varint(&mut out, held.chunk_by(|a, b| a.0 == b.0).count() as u64);
    let mut previous_code = 0;
    let (mut list, mut repeats) = (Vec::new(), Vec::new());
    for group in held.chunk_by(|a, b| a.0 == b.0) {
        let code = group[0].0;
        list.clear();
        repeats.clear();
        let mut previous: Option<u32> = None;
        let mut previous_repeat: Option<usize> = None;
        for (position, &(_, visit, times)) in group.iter().enumerate() {
            // Distinct and ascending within a code, so the gap never wraps.
            let gap = previous.map_or(visit, |previous| visit - previous - 1);
            put_varint(&mut list, u64::from(gap));
            previous = Some(visit);
            if times > 1 {
                let skipped = previous_repeat.map_or(position, |p| position - p - 1);
                put_varint(&mut repeats, skipped as u64);
                put_varint(&mut repeats, times - 2);
                previous_repeat = Some(position);
            }
        }
        put_varint(&mut out, code - previous_code);
        put_varint(&mut out, list.len() as u64);
        out.extend_from_slice(&list);
        put_varint(&mut out, repeats.len() as u64);
        out.extend_from_slice(&repeats);
        previous_code = code;
    }
    out
}

/// Which of `needs` (of [`crate::visit_record::VisitGate::step_needs`]) an
/// event of code `code` meets, as a bit per need.
fn needs_met(code: u64, needs: &[(StepNeed, u64)]) -> u8 {
    let custom = code & 1 == 1;
    needs
        .iter()
        .enumerate()
        .fold(0, |met, (bit, &(need, wanted))| {
            let meets = match need {
                StepNeed::PathOrCustom(_) => custom || code == wanted,
                StepNeed::PageViewOf(_) | StepNeed::Name(_) => code == wanted,
                StepNeed::PageView => !custom,
            };
            met | u8::from(meets) << bit
        })
}

/// The visits of a day of `count` visits whose events may meet every one of
/// `needs`, from its (unsealed) code index `index`: a visit is selected when,
/// for each need, one of its codes meets it (as the search of its codes
/// would tell). `None` when the index tells nothing more than that search
/// (no need, or only [`StepNeed::PageView`], which nearly every visit meets).
pub(crate) fn selection(
    index: &[u8],
    count: usize,
    needs: &[StepNeed],
) -> Result<Option<Vec<bool>>, Damaged> {
    // (A query has a need per page or event filter: more than eight are
    // searched for as without the index.)
    if needs.is_empty() || needs.len() > 8 || needs.iter().all(|n| *n == StepNeed::PageView) {
        return Ok(None);
    }
    let needs: Vec<(StepNeed, u64)> = needs
        .iter()
        .map(|&need| {
            let code = match need {
                StepNeed::PathOrCustom(path) | StepNeed::PageViewOf(path) => step_code(path, true),
                StepNeed::Name(name) => step_code(name, false),
                StepNeed::PageView => 0,
            };
            (need, code)
        })
        .collect();
    let all = u8::MAX >> (8 - needs.len());
    // Per visit, the needs it meets so far.
    let mut met = vec![0u8; count];
    walk(index, |code, list| {
        let bits = needs_met(code, &needs);
        if bits == 0 {
            return Ok(());
        }
        visits_of(list, count, |visit| met[visit] |= bits)
    })?;
    Ok(Some(met.into_iter().map(|bits| bits == all).collect()))
}

/// Per visit of a day, from its (unsealed) code index `index`, the bits
/// that `bits_of` gives the codes it holds, or-ed together (0 for a visit
/// that holds none `bits_of` marks). The day's visit count need not be
/// known: the answer has room for `count_hint` visits, or up to the last
/// marked visit when that is later, and the visits after its end hold no
/// marked code.
pub(crate) fn holders(
    index: &[u8],
    count_hint: usize,
    bits_of: impl Fn(u64) -> u8,
) -> Result<Vec<u8>, Damaged> {
    let mut marks: Vec<u8> = vec![0; count_hint];
    walk(index, |code, list| {
        let bits = bits_of(code);
        if bits == 0 {
            return Ok(());
        }
        visits_of(list, usize::MAX, |visit| {
            if visit >= marks.len() {
                marks.resize(visit + 1, 0);
            }
            marks[visit] |= bits;
        })
    })?;
    Ok(marks)
}

/// Hands `each` every code of `index` in order with the bytes of its list
/// of visits, checking that the codes ascend and that each list ends where
/// its length says (the lists themselves are read by [`visits_of`]).
fn walk(
    index: &[u8],
    mut each: impl FnMut(u64, &[u8]) -> Result<(), Damaged>,
) -> Result<(), Damaged> {
    walk_with_repeats(index, |code, list, _| each(code, list))
}

/// [`walk`], handing over each code's repeats too (read by
/// [`times_of`]).
fn walk_with_repeats(
    index: &[u8],
    mut each: impl FnMut(u64, &[u8], &[u8]) -> Result<(), Damaged>,
) -> Result<(), Damaged> {
    let mut at = 0;
    let codes = get_varint(index, &mut at).ok_or(Damaged)?;
    let mut code = 0u64;
    for ordinal in 0..codes {
        let delta = get_varint(index, &mut at).ok_or(Damaged)?;
        if ordinal > 0 && delta == 0 {
            return Err(Damaged);
        }
        code = code.checked_add(delta).ok_or(Damaged)?;
        let length =
            usize::try_from(get_varint(index, &mut at).ok_or(Damaged)?).map_err(|_| Damaged)?;
        let end = at.checked_add(length).ok_or(Damaged)?;
        let list = index
            .get(at..end)
            .filter(|list| !list.is_empty())
            .ok_or(Damaged)?;
        at = end;
        let length =
            usize::try_from(get_varint(index, &mut at).ok_or(Damaged)?).map_err(|_| Damaged)?;
        let end = at.checked_add(length).ok_or(Damaged)?;
        let repeats = index.get(at..end).ok_or(Damaged)?;
        at = end;
        each(code, list, repeats)?;
    }
    if at != index.len() {
        return Err(Damaged);
    }
    Ok(())
}

/// Hands `each` every visit of the list `list` of a day of `count` visits,
/// in ascending order.
fn visits_of(list: &[u8], count: usize, mut each: impl FnMut(usize)) -> Result<(), Damaged> {
    let mut at = 0;
    let mut next = 0usize;
    while at < list.len() {
        // Eight gaps of one byte at a time (a popular code's visits follow
        // each other closely): no varint to tell apart, one bound check.
        if let Some(eight) = list.get(at..at + 8) {
            let word = u64::from_le_bytes(<[u8; 8]>::try_from(eight).map_err(|_| Damaged)?);
            if word & 0x8080_8080_8080_8080 == 0 {
                // The last visit of the eight: the gaps' sum (added in
                // 16-bit lanes, which hold it) and seven more.
                let lanes = (word & 0x00FF_00FF_00FF_00FF) + ((word >> 8) & 0x00FF_00FF_00FF_00FF);
                let spread = (lanes.wrapping_mul(0x0001_0001_0001_0001) >> 48) as usize;
                if next + spread + 7 >= count {
                    return Err(Damaged);
                }
                for gap in word.to_le_bytes() {
                    let visit = next + usize::from(gap);
                    each(visit);
                    next = visit + 1;
                }
                at += 8;
                continue;
            }
        }
        let gap =
            usize::try_from(get_varint(list, &mut at).ok_or(Damaged)?).map_err(|_| Damaged)?;
        let visit = next.checked_add(gap).ok_or(Damaged)?;
        if visit >= count {
            return Err(Damaged);
        }
        each(visit);
        next = visit + 1;
    }
    Ok(())
}

/// Hands `each` every visit of the list `list` of a day of `count` visits
/// in ascending order, with how often it holds the code, from the code's
/// repeats `repeats`.
fn times_of(
    list: &[u8],
    repeats: &[u8],
    count: usize,
    mut each: impl FnMut(usize, u64),
) -> Result<(), Damaged> {
    let mut at_repeat = 0;
    // The position in the list of the next visit that repeats the code.
    let mut repeat_at = if repeats.is_empty() {
        usize::MAX
    } else {
        usize::try_from(get_varint(repeats, &mut at_repeat).ok_or(Damaged)?).map_err(|_| Damaged)?
    };
    let mut position = 0usize;
    let mut damaged = false;
    visits_of(list, count, |visit| {
        let mut times = 1;
        if position == repeat_at {
            match next_repeat(repeats, &mut at_repeat, position) {
                Some((held, next)) => (times, repeat_at) = (held, next),
                None => (damaged, repeat_at) = (true, usize::MAX),
            }
        }
        each(visit, times);
        position += 1;
    })?;
    // Every repeat names a visit of the list.
    if damaged || repeat_at != usize::MAX {
        return Err(Damaged);
    }
    Ok(())
}

/// Reads, at `*at` of `repeats`, how often the visit at `position` of its
/// list holds the code, and the position of the next visit that repeats it
/// (`usize::MAX` after the last).
#[inline]
fn next_repeat(repeats: &[u8], at: &mut usize, position: usize) -> Option<(u64, usize)> {
    let times = get_varint(repeats, at)?.checked_add(2)?;
    let next = if *at == repeats.len() {
        usize::MAX
    } else {
        let skipped = usize::try_from(get_varint(repeats, at)?).ok()?;
        position.checked_add(1)?.checked_add(skipped)?
    };
    Some((times, next))
}

/// Hands `each`, code by code in ascending order, every code `counted`
/// counts with the visits of a day of `count` visits selected by
/// `selected` (every visit when `None`) that hold it, in ascending order,
/// each with how often it holds it, from the day's (unsealed) code index
/// `index`. A code no selected visit holds is not handed over.
pub(crate) fn tally(
    index: &[u8],
    count: usize,
    selected: Option<&[bool]>,
    counted: impl Fn(u64) -> bool,
    mut each: impl FnMut(u64, &[(usize, u64)]),
) -> Result<(), Damaged> {
    if selected.is_some_and(|selected| selected.len() != count) {
        return Err(Damaged);
    }
    // The selected visits of a code's list, gathered without a branch per
    // visit (which of them is selected is as good as random); a list holds
    // at most one visit per byte.
    let mut gathered: Vec<(usize, u64)> = Vec::new();
    walk_with_repeats(index, |code, list, repeats| {
        if !counted(code) {
            return Ok(());
        }
        if gathered.len() < list.len() {
            gathered.resize(list.len(), (0, 0));
        }
        let mut kept = 0;
        match selected {
            None => times_of(list, repeats, count, |visit, times| {
                gathered[kept] = (visit, times);
                kept += 1;
            })?,
            Some(selected) => times_of(list, repeats, count, |visit, times| {
                gathered[kept] = (visit, times);
                kept += usize::from(selected[visit]);
            })?,
        }
        if kept > 0 {
            each(code, &gathered[..kept]);
        }
        Ok(())
    })
}
