"""Geography: regions from KLASS, their code history, and harmonising observed codes to today's codes.

    parse.py          KLASS answers (JSON and CSV exports) read into frames
    load.py           the KLASS requests the pipeline sends, and their answers as one KlassGeography
    regions.py        the regions dimension (country, counties, municipalities, districts, with history)
    history.py        the code history: every spelling a source uses for a region and its code today
    harmonise.py      tidy observations given today's codes, by named rules, with a report
    district_sums.py  the districts of a municipality added up against its total (core report, quality check)
"""
