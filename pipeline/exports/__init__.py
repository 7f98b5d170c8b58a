"""Export goals: profile segment → Braze-typed payload → attribute-level changes → /users/track.

`members` picks the profiles of the goal's segment, `payload` turns their values into
checked Braze values (one row per identity and attribute), `changes` diffs that against the
acknowledged baseline, and `pipeline.push` sends the result. `steps` runs each as one call.
"""
