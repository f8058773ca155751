"""Words the simulated prompts are built from. Deliberately varied; no detector reads these."""

SUBJECTS = [
    "organic chemistry", "number theory", "contract law", "macroeconomics", "cell biology",
    "thermodynamics", "world history", "linear algebra", "microbiology", "astronomy",
    "constitutional law", "game theory", "geology", "statistics", "poetry", "philosophy of mind",
    "operating systems", "compilers", "databases", "cryptography", "electromagnetism",
    "genetics", "pharmacology", "accounting", "marketing", "linguistics", "music theory",
    "ethics", "topology", "quantum mechanics", "ecology", "neuroscience", "climate science",
]
SKILLS = [
    "prove", "derive", "solve", "analyse", "compare", "critique", "translate", "summarise",
    "debug", "optimise", "classify", "estimate", "design", "evaluate", "explain",
]
LANG_PHRASES = {
    "en": "Explain step by step and show your reasoning",
    "es": "Explica paso a paso y muestra tu razonamiento",
    "fr": "Explique étape par étape et montre ton raisonnement",
    "de": "Erkläre Schritt für Schritt",
    "it": "Spiega passo a passo e mostra il tuo ragionamento",
    "ru": "Объясни шаг за шагом",
    "zh": "请一步一步地解释",
    "ja": "ステップバイステップで説明してください",
}
CHAT_OPENERS = [
    "can you help me write", "what do you think about", "rewrite this email about",
    "give me ideas for", "how do I fix", "tell me a story about", "make this sound nicer:",
    "what's a good name for", "plan a trip to", "help me understand",
]
CHAT_TOPICS = [
    "my landlord", "a birthday party", "the quarterly report", "my cat", "a job interview",
    "a wedding speech", "my garden", "the team offsite", "a product launch", "learning guitar",
    "a cover letter", "my sourdough starter", "a refund request", "Lisbon", "a cold email",
]
CODE_TASKS = [
    "refactor this function", "write a unit test for", "why does this throw", "add typing to",
    "convert to async", "explain this regex", "speed up this query", "fix the off-by-one in",
]
CODE_THINGS = ["parser.py", "the user service", "a React hook", "this SQL join", "the CI config",
               "a Go handler", "the cache layer", "the payment webhook"]
MODELS = ["large-2", "large-2", "medium-3", "small-1"]
USER_AGENTS = ["openai-python/1.54.3", "openai-node/4.71.0", "curl/8.5.0", "litellm/1.52.0",
               "python-requests/2.32.3", "langchain/0.3.7", "Go-http-client/2.0"]
