//! A dimension's members, loaded from its table, with the lookups addressing
//! needs: child by name, ancestors of a leaf, leaf-key range of a member.

use std::collections::HashMap;
use std::ops::{Range, RangeInclusive};

use super::definition::DimensionDef;

/// One member of one level.
#[derive(Debug, Clone)]
pub struct Member {
    pub name: String,
    /// Index of the parent in the level above (0 for the top level).
    pub parent: u32,
    /// The leaf keys beneath the member (contiguous: see the model invariant).
    pub leaves: RangeInclusive<u32>,
    /// Indexes of the children in the level below.
    pub children: Range<u32>,
}

/// A dimension with its members.
#[derive(Debug)]
pub struct Dimension {
    pub def: &'static DimensionDef,
    /// Members per level, outermost level first, each level in hierarchy order.
    pub levels: Vec<Vec<Member>>,
    /// `ancestors[level][leaf]`: the member of `level` above leaf key `leaf`.
    ancestors: Vec<Vec<u32>>,
    /// (level, parent, name) -> member index.
    by_name: HashMap<(usize, u32, String), u32>,
}

/// Why rows of a dimension table do not form a hierarchy.
#[derive(Debug, thiserror::Error)]
#[error("dimension {dimension}: {message}")]
pub struct HierarchyError {
    pub dimension: &'static str,
    pub message: String,
}

impl Dimension {
    /// Builds the dimension from its leaf rows, ordered by leaf key. Each row
    /// holds, per level, the member's (id, name); leaf keys and member ids
    /// must be dense and in hierarchy order.
    pub fn from_leaves(
        def: &'static DimensionDef,
        rows: &[Vec<(u32, String)>],
    ) -> Result<Self, HierarchyError> {
        let fail = |message: String| HierarchyError {
            dimension: def.name,
            message,
        };
        let n_levels = def.levels.len();
        let mut levels: Vec<Vec<Member>> = vec![Vec::new(); n_levels];
        let mut ancestors = vec![Vec::with_capacity(rows.len()); n_levels];
        for (leaf, row) in rows.iter().enumerate() {
            let leaf = leaf as u32;
            if row.len() != n_levels {
                return Err(fail(format!("leaf {leaf} has {} levels", row.len())));
            }
            let mut parent = 0u32;
            for (level, (id, name)) in row.iter().enumerate() {
                let members = &mut levels[level];
                match members.len() as u32 {
                    n if *id == n => members.push(Member {
                        name: name.clone(),
                        parent,
                        leaves: leaf..=leaf,
                        children: 0..0,
                    }),
                    n if *id + 1 == n => {
                        let m = members.last_mut().expect("non-empty");
                        if m.parent != parent || m.name != *name {
                            return Err(fail(format!(
                                "member {id} of level {level} is not contiguous"
                            )));
                        }
                        m.leaves = *m.leaves.start()..=leaf;
                    }
                    _ => {
                        return Err(fail(format!(
                            "leaf {leaf}: level {level} id {id} is out of hierarchy order"
                        )));
                    }
                }
                ancestors[level].push(*id);
                parent = *id;
            }
        }
        // Children ranges follow from the parents being in order.
        for level in 1..n_levels {
            let (upper, lower) = levels.split_at_mut(level);
            for (i, m) in lower[0].iter().enumerate() {
                let p = &mut upper[level - 1][m.parent as usize];
                if p.children.is_empty() {
                    p.children = i as u32..i as u32 + 1;
                } else {
                    p.children.end = i as u32 + 1;
                }
            }
        }
        let mut by_name = HashMap::new();
        for (level, members) in levels.iter().enumerate() {
            for (i, m) in members.iter().enumerate() {
                let parent = if level == 0 { 0 } else { m.parent };
                if by_name
                    .insert((level, parent, m.name.clone()), i as u32)
                    .is_some()
                {
                    return Err(fail(format!(
                        "two members of level {level} under one parent are named {:?}",
                        m.name
                    )));
                }
            }
        }
        Ok(Self {
            def,
            levels,
            ancestors,
            by_name,
        })
    }

    /// The number of leaves (rows of the dimension table).
    pub fn leaf_count(&self) -> u32 {
        self.ancestors[0].len() as u32
    }

    /// The leaf that planning adjustments from other dimensions' sheets use:
    /// the `(unassigned)` member, last in hierarchy order.
    pub fn unassigned_leaf(&self) -> u32 {
        self.leaf_count() - 1
    }

    /// The member of `level` named `name` under `parent` (ignored at level 0).
    pub fn child(&self, level: usize, parent: u32, name: &str) -> Option<u32> {
        let parent = if level == 0 { 0 } else { parent };
        self.by_name.get(&(level, parent, name.to_owned())).copied()
    }

    /// The member of `level` above a leaf key.
    pub fn ancestor(&self, level: usize, leaf: u32) -> u32 {
        self.ancestors[level][leaf as usize]
    }

    /// The leaf keys beneath the row at `depth` (0 = everything).
    pub fn leaves(&self, depth: u8, member: u32) -> RangeInclusive<u32> {
        match depth {
            0 => 0..=self.leaf_count().saturating_sub(1),
            d => self.levels[d as usize - 1][member as usize].leaves.clone(),
        }
    }

    /// The member names from the top down to the row at `depth`.
    pub fn path(&self, depth: u8, member: u32) -> Vec<String> {
        let mut path = Vec::with_capacity(depth as usize);
        let mut m = member;
        for level in (0..depth as usize).rev() {
            let member = &self.levels[level][m as usize];
            path.push(member.name.clone());
            m = member.parent;
        }
        path.reverse();
        path
    }

    /// The rows of a sheet showing `depth` levels, in pre-order (each subtotal
    /// before its children), starting at the row (`from_depth`, `from`).
    pub fn rows_preorder(&self, depth: u8, from_depth: u8, from: u32) -> Vec<(u8, u32)> {
        let mut out = Vec::new();
        self.walk(depth, from_depth, from, &mut out);
        out
    }

    fn walk(&self, depth: u8, d: u8, member: u32, out: &mut Vec<(u8, u32)>) {
        out.push((d, member));
        if d >= depth {
            return;
        }
        let children = if d == 0 {
            0..self.levels[0].len() as u32
        } else {
            self.levels[d as usize - 1][member as usize]
                .children
                .clone()
        };
        for child in children {
            self.walk(depth, d + 1, child, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::definition::DIMENSIONS;

    fn leaf(ids: [(u32, &str); 3]) -> Vec<(u32, String)> {
        ids.iter().map(|(i, n)| (*i, n.to_string())).collect()
    }

    fn customers() -> Dimension {
        let rows = vec![
            leaf([(0, "North"), (0, "Alpha"), (0, "c0")]),
            leaf([(0, "North"), (0, "Alpha"), (1, "c1")]),
            leaf([(0, "North"), (1, "Beta"), (2, "c2")]),
            leaf([(1, "South"), (2, "Alpha"), (3, "c3")]),
        ];
        Dimension::from_leaves(&DIMENSIONS[1], &rows).unwrap()
    }

    #[test]
    fn members_cover_contiguous_leaf_ranges() {
        let d = customers();
        assert_eq!(d.levels[0][0].leaves, 0..=2);
        assert_eq!(d.levels[1][2].leaves, 3..=3);
        assert_eq!(d.levels[0][0].children, 0..2);
        assert_eq!(d.leaves(0, 0), 0..=3);
        assert_eq!(d.ancestor(1, 2), 1);
    }

    #[test]
    fn names_resolve_within_their_parent() {
        let d = customers();
        assert_eq!(d.child(1, 0, "Alpha"), Some(0));
        assert_eq!(d.child(1, 1, "Alpha"), Some(2));
        assert_eq!(d.child(1, 1, "Beta"), None);
        assert_eq!(d.path(2, 2), vec!["South", "Alpha"]);
    }

    #[test]
    fn preorder_lists_subtotals_before_children() {
        let d = customers();
        let rows = d.rows_preorder(2, 0, 0);
        assert_eq!(rows, vec![(0, 0), (1, 0), (2, 0), (2, 1), (1, 1), (2, 2)]);
        assert_eq!(d.rows_preorder(2, 1, 1), vec![(1, 1), (2, 2)]);
    }

    #[test]
    fn out_of_order_rows_are_rejected() {
        let rows = vec![
            leaf([(0, "North"), (0, "Alpha"), (0, "c0")]),
            leaf([(1, "South"), (1, "Beta"), (1, "c1")]),
            leaf([(0, "North"), (2, "Gamma"), (2, "c2")]),
        ];
        assert!(Dimension::from_leaves(&DIMENSIONS[1], &rows).is_err());
    }
}
