from models.ebm_detector import EBMDetector

__all__ = ['EBMDetector']
