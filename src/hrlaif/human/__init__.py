"""Human evaluation of a finished run: raters judge the evaluation responses in a small web app.

The paper's headline metric is a human satisfaction rate, and its lesson is that an AI
labeler's preference and human satisfaction can disagree. This room reads RUN/eval/ (what
`compare` or `demo` wrote), serves the responses to raters (`items`, `store`, `app`), and turns
their ratings into human figures and AI-human agreement (`agreement`, `results`), written to
RUN/human/ beside the run.
"""
