"""What the rig costs a day, and the floor that no price goes below (issue 16)."""
