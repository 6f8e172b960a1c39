//! A dimension's members, loaded from its table: a tree over the leaves
//! (the keys facts reference), with the lookups addressing needs.
//!
//! Leaves are numbered in hierarchy order (the import sorts them), so every
//! member covers one contiguous range of leaves. A hierarchy may be ragged:
//! where a level was null and declared `skip`, the member below hangs from
//! the one above, and a leaf's path is shorter.

use std::collections::HashMap;
use std::ops::RangeInclusive;

/// One member: a node of the tree. Member 0 is the root (everything).
#[derive(Debug, Clone)]
pub struct Member {
    pub name: String,
    /// Shown beside the name (from the level's caption column).
    pub caption: Option<String>,
    /// The declared level (index into the dimension's levels); `None` for
    /// the root.
    pub level: Option<u8>,
    pub parent: u32,
    pub children: Vec<u32>,
    /// The leaves beneath (contiguous).
    pub leaves: RangeInclusive<u32>,
}

/// One leaf as loaded: its member name (or `None`: skipped) and caption at
/// every level, outermost first.
pub type LeafPath = Vec<Option<(String, Option<String>)>>;

/// Why rows of a dimension table do not form a hierarchy (the import makes
/// sure they do; this guards a database edited by hand).
#[derive(Debug, thiserror::Error)]
#[error("dimension {dimension}: {message}")]
pub struct HierarchyError {
    pub dimension: String,
    pub message: String,
}

/// A dimension with its members.
#[derive(Debug)]
pub struct Dimension {
    pub name: String,
    pub members: Vec<Member>,
    /// For each leaf, its deepest member (the last level it has a name at).
    leaf_member: Vec<u32>,
    /// (parent member, name) -> member.
    by_name: HashMap<(u32, String), u32>,
    /// Members per declared level.
    level_counts: Vec<u32>,
}

impl Dimension {
    /// Builds the tree from its leaves' paths, in leaf order. Members are
    /// identified by their parent and name; a member's leaves must be
    /// contiguous.
    pub fn from_leaves(
        name: &str,
        levels: usize,
        leaves: &[LeafPath],
    ) -> Result<Self, HierarchyError> {
        let fail = |message: String| HierarchyError {
            dimension: name.to_owned(),
            message,
        };
        let mut members = vec![Member {
            name: String::new(),
            caption: None,
            level: None,
            parent: 0,
            children: Vec::new(),
            leaves: 0..=leaves.len().saturating_sub(1) as u32,
        }];
        let mut by_name: HashMap<(u32, String), u32> = HashMap::new();
        let mut leaf_member = Vec::with_capacity(leaves.len());
        let mut level_counts = vec![0; levels];
        for (leaf, path) in leaves.iter().enumerate() {
            let leaf = leaf as u32;
            if path.len() != levels {
                return Err(fail(format!(
                    "leaf {leaf} has {} levels, not {levels}",
                    path.len()
                )));
            }
            let mut parent = 0u32;
            for (level, step) in path.iter().enumerate() {
                let Some((member_name, caption)) = step else {
                    continue;
                };
                let key = (parent, member_name.clone());
                let member = match by_name.get(&key) {
                    Some(&m) => {
                        let last = *members[m as usize].leaves.end();
                        if last + 1 != leaf {
                            return Err(fail(format!(
                                "member {member_name:?} is not contiguous (leaf {leaf})"
                            )));
                        }
                        members[m as usize].leaves = *members[m as usize].leaves.start()..=leaf;
                        m
                    }
                    None => {
                        let m = members.len() as u32;
                        members.push(Member {
                            name: member_name.clone(),
                            caption: caption.clone(),
                            level: Some(level as u8),
                            parent,
                            children: Vec::new(),
                            leaves: leaf..=leaf,
                        });
                        members[parent as usize].children.push(m);
                        by_name.insert(key, m);
                        level_counts[level] += 1;
                        m
                    }
                };
                parent = member;
            }
            leaf_member.push(parent);
        }
        Ok(Self {
            name: name.to_owned(),
            members,
            leaf_member,
            by_name,
            level_counts,
        })
    }

    /// The number of leaves.
    pub fn leaf_count(&self) -> u32 {
        self.leaf_member.len() as u32
    }

    /// The leaf that planning adjustments from other dimensions' sheets
    /// use: the placeholder member, last in hierarchy order.
    pub fn placeholder_leaf(&self) -> u32 {
        self.leaf_count() - 1
    }

    /// The child of `parent` named `name`.
    pub fn child(&self, parent: u32, name: &str) -> Option<u32> {
        self.by_name.get(&(parent, name.to_owned())).copied()
    }

    /// The member a path of names (from the top) leads to.
    pub fn find(&self, path: &[String]) -> Option<u32> {
        path.iter()
            .try_fold(0u32, |member, name| self.child(member, name))
    }

    /// The deepest member above `leaf` whose level is shallower than
    /// `depth` (the root when there is none).
    pub fn deepest_above(&self, leaf: u32, depth: usize) -> u32 {
        let mut m = self.leaf_member[leaf as usize];
        while let Some(level) = self.members[m as usize].level {
            if (level as usize) < depth {
                break;
            }
            m = self.members[m as usize].parent;
        }
        m
    }

    /// How many members each level has.
    pub fn level_count(&self, level: usize) -> u32 {
        self.level_counts[level]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(names: &[Option<&str>]) -> LeafPath {
        names
            .iter()
            .map(|n| n.map(|n| (n.to_owned(), None)))
            .collect()
    }

    fn regions() -> Dimension {
        let leaves = vec![
            path(&[Some("North"), Some("Alpha"), Some("c0")]),
            path(&[Some("North"), Some("Alpha"), Some("c1")]),
            path(&[Some("North"), Some("Beta"), Some("c2")]),
            path(&[Some("South"), Some("Alpha"), Some("c3")]),
            // Ragged: no city.
            path(&[Some("South"), None, Some("c4")]),
        ];
        Dimension::from_leaves("region", 3, &leaves).unwrap()
    }

    #[test]
    fn members_cover_contiguous_leaves_and_names_resolve_within_their_parent() {
        let d = regions();
        let north = d.find(&["North".into()]).unwrap();
        assert_eq!(d.members[north as usize].leaves, 0..=2);
        let south_alpha = d.find(&["South".into(), "Alpha".into()]).unwrap();
        assert_ne!(
            south_alpha,
            d.find(&["North".into(), "Alpha".into()]).unwrap()
        );
        assert_eq!(d.members[south_alpha as usize].leaves, 3..=3);
        assert_eq!(d.level_count(1), 3);
        // The ragged leaf hangs from South directly.
        let c4 = d.find(&["South".into(), "c4".into()]).unwrap();
        assert_eq!(d.members[c4 as usize].level, Some(2));
        assert_eq!(d.deepest_above(4, 2), d.find(&["South".into()]).unwrap());
        assert_eq!(
            d.deepest_above(0, 2),
            d.find(&["North".into(), "Alpha".into()]).unwrap()
        );
        assert_eq!(d.deepest_above(0, 0), 0);
    }

    #[test]
    fn a_member_split_by_another_is_refused() {
        let leaves = vec![
            path(&[Some("North")]),
            path(&[Some("South")]),
            path(&[Some("North")]),
        ];
        assert!(Dimension::from_leaves("region", 1, &leaves).is_err());
    }
}
