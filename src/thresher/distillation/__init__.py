"""Distilling an expensive score into a cheap classifier: `thresher distill` and the students it trains.

- `run.distill`: label examples from a teacher's score column (or take a positive and a negative file), hold out a
  seeded part, train a student, measure it against the teacher there, write a model directory;
- `students`: the students (`fasttext`, `head`), registry components (`registry.STUDENTS`);
- `model_dir`: the model directory's layout, `load_student`;
- `labels`, `text`: the pure parts (labelling from a column, the held-out split, the text normalisation).

The `fasttext` and `student-head` scorers (`thresher.scorers.student`) apply a model directory to a corpus.
"""
