"""The partners' report: static HTML (bokmål first, English beside it) that opens offline in any browser.

    adapter      the one place that reads goal_progress columns; series: the observations behind the charts
    texts        every word in nb and en; formatting: numbers, units, dates and periods
    labels       assets/report.yaml: Norwegian names and definitions the catalogue lacks, source lines
    charts       small multiples as inline SVG on one y-axis per indicator
    content      the report's inputs gathered once, and views shared by the pages
    layout       the Jinja2 templates (templates/) and the page frame
    pages        the overview with the barometer, and the page about the figures
    goal_pages   one page per goal; profiles: one page per bydel and Oslo
    stories      partners' stories (assets/stories/*.md): validation, personal-data refusal, Markdown
    downloads    CSV for Norwegian Excel; browser and pdf: headless Chromium printing profiles to A4
    writer       write_report(): builds everything and swaps it in atomically
"""

from ci_pipeline.report.writer import ReportResult, write_report

__all__ = ["ReportResult", "write_report"]
